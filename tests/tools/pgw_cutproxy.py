#!/usr/bin/env python3
"""pgw_cutproxy.py: a TCP proxy for the watch-cut drill (issue 18).

Usage: pgw_cutproxy.py LISTEN_PORT TARGET_HOST:TARGET_PORT

Forwards every connection to the target. On SIGUSR1 every connection open
at that moment stops forwarding the target's bytes to the client (they are
read and dropped, so the server sees nothing wrong) while the client's
bytes still reach the server and no socket is closed: a stream that
silently stops delivering. Connections made after the signal are forwarded
both ways (a client that reconnects gets through). Logs to stderr.
"""
import selectors
import signal
import socket
import sys
import time

cut_before = [0]  # connections with a serial below this are cut
serial = [0]


def on_cut(_sig, _frm):
    cut_before[0] = serial[0]
    print(f"cutproxy: cut {cut_before[0]} connection(s) server->client at "
          f"{time.time():.3f}", file=sys.stderr, flush=True)


def main():
    port = int(sys.argv[1])
    host, tport = sys.argv[2].rsplit(":", 1)
    signal.signal(signal.SIGUSR1, on_cut)
    lsn = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsn.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsn.bind(("127.0.0.1", port))
    lsn.listen(64)
    sel = selectors.DefaultSelector()
    sel.register(lsn, selectors.EVENT_READ, None)
    while True:
        try:
            events = sel.select(1.0)
        except InterruptedError:
            continue
        for key, _ in events:
            if key.data is None:
                cli, _ = lsn.accept()
                try:
                    srv = socket.create_connection((host, int(tport)), 3)
                except OSError:
                    cli.close()
                    continue
                n = serial[0]
                serial[0] += 1
                # (peer, from_server, connection serial)
                sel.register(cli, selectors.EVENT_READ, (srv, False, n))
                sel.register(srv, selectors.EVENT_READ, (cli, True, n))
                continue
            peer, from_server, n = key.data
            try:
                data = key.fileobj.recv(65536)
            except OSError:
                data = b""
            if not data:
                for s in (key.fileobj, peer):
                    try:
                        sel.unregister(s)
                    except (KeyError, ValueError):
                        pass
                    s.close()
                continue
            if from_server and n < cut_before[0]:
                continue  # dropped: the stream goes silent, nothing closes
            try:
                peer.sendall(data)
            except OSError:
                pass


if __name__ == "__main__":
    main()
