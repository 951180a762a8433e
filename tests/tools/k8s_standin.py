#!/usr/bin/env python3
"""k8s_standin.py: a stand-in for the Kubernetes API server, for tests only.

No Kubernetes API server can run on the test machines, so this one plays
the parts pgwarden talks to, and refuses what the real one refuses:

  * HTTPS only (the test's own CA), a bearer token compared with the token
    file on every request (rewrite the file to "expire" the client's token):
    401 with a Status object otherwise;
  * Accept must allow application/json (406);
  * PATCH of a pod with strategic-merge-patch+json, merge-patch+json or
    json-patch+json only (415 otherwise), applied as the real server does
    for labels (null deletes); metadata.resourceVersion in a patch or a PUT
    must match the stored one: 409 Conflict otherwise;
  * EndpointSlices (discovery.k8s.io/v1): GET, POST (409 AlreadyExists),
    PUT (resourceVersion compared); POST/PUT need application/json;
  * every write bumps a global resourceVersion, as etcd's revision does.

Faults, set by the test through /_control (no auth, same port):
  /_control/mode?m=ok|error|forbidden|garbage|slow[&n=N][&delay=S]
      error: 500 (n times, or until mode ok), forbidden: 403 with an RBAC
      message, garbage: 200 with an HTML body, slow: answer after S s;
  /_control/conflict?n=N   the next N writes bump the object first (someone
                           else wrote it) and so answer 409;
  /_control/pod?name=N&ip=A&labels=k=v,k=v&grace=S   create or reset a pod;
  /_control/state          every stored object, as JSON;
  /_control/requests       the requests seen: [method, path, ctype, status].
"""
import argparse
import copy
import json
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

PATCH_TYPES = (
    "application/strategic-merge-patch+json",
    "application/merge-patch+json",
    "application/json-patch+json",
)

lock = threading.RLock()
state = {"rv": 1000, "pods": {}, "slices": {}}
faults = {"mode": "ok", "n": 0, "delay": 0.0, "conflicts": 0}
requests_seen = []
token_file = None


def next_rv():
    state["rv"] += 1
    return str(state["rv"])


def status_obj(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": message, "reason": reason,
            "code": code}


def merge_patch(target, patch):
    """RFC 7386; strategic merge is the same for maps of strings."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    out = dict(target)
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def json_patch(target, ops):
    out = copy.deepcopy(target)
    for op in ops:
        path = [p.replace("~1", "/").replace("~0", "~")
                for p in op["path"].split("/")[1:]]
        parent = out
        for p in path[:-1]:
            parent = parent.setdefault(p, {})
        if op["op"] in ("add", "replace"):
            parent[path[-1]] = op["value"]
        elif op["op"] == "remove":
            del parent[path[-1]]
        elif op["op"] == "test":
            if parent.get(path[-1]) != op["value"]:
                raise ValueError("test failed")
        else:
            raise ValueError("unsupported op " + op["op"])
    return out


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def answer(self, code, obj=None, raw=None):
        body = raw if raw is not None else json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/html" if raw is not None
                         else "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        with lock:
            requests_seen.append([self.command, self.path,
                                  self.headers.get("Content-Type", ""), code])

    def read_body(self):
        n = int(self.headers.get("Content-Length", "0") or "0")
        return self.rfile.read(n) if n > 0 else b""

    def control(self, url):
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        with lock:
            if url.path == "/_control/mode":
                faults["mode"] = q.get("m", "ok")
                faults["n"] = int(q.get("n", "0"))
                faults["delay"] = float(q.get("delay", "0"))
            elif url.path == "/_control/conflict":
                faults["conflicts"] = int(q.get("n", "1"))
            elif url.path == "/_control/pod":
                name = q["name"]
                labels = {}
                for kv in filter(None, q.get("labels", "").split(",")):
                    k, v = kv.split("=", 1)
                    labels[k] = v
                pod = {"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"name": name, "namespace": q.get("ns", "default"),
                                    "uid": "uid-" + name, "labels": labels,
                                    "resourceVersion": next_rv()},
                       "spec": {"containers": [{"name": "postgres",
                                                "image": "pgwarden:test"}],
                                "terminationGracePeriodSeconds": int(q.get("grace", "30"))},
                       "status": {"phase": "Running"}}
                if q.get("ip"):
                    pod["status"]["podIP"] = q["ip"]
                state["pods"][name] = pod
            elif url.path == "/_control/state":
                self.answer(200, {"pods": state["pods"], "slices": state["slices"]})
                return
            elif url.path == "/_control/requests":
                self.answer(200, requests_seen)
                return
            else:
                self.answer(404, status_obj(404, "NotFound", "no such control"))
                return
        self.answer(200, {"ok": True})

    def fault(self):
        """an injected fault answered, or None to go on"""
        with lock:
            mode, n, delay = faults["mode"], faults["n"], faults["delay"]
            if mode != "ok" and n > 0:
                faults["n"] -= 1
                if faults["n"] == 0:
                    faults["mode"] = "ok"
        if mode == "slow":
            time.sleep(delay)
            return None
        if mode == "error":
            self.answer(500, status_obj(500, "InternalError",
                                        "etcdserver: request timed out"))
            return True
        if mode == "forbidden":
            self.answer(403, status_obj(
                403, "Forbidden",
                'pods "%s" is forbidden: User "system:serviceaccount:default:pgwarden" '
                'cannot patch resource "pods" in API group "" in the namespace "default"'
                % self.path.rsplit("/", 1)[-1]))
            return True
        if mode == "garbage":
            self.answer(200, raw=b"<html><body>502 Bad Gateway</body></html>")
            return True
        return None

    def authorized(self):
        with open(token_file) as f:
            want = f.read().strip()
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] != want:
            self.answer(401, status_obj(401, "Unauthorized", "Unauthorized"))
            return False
        acc = self.headers.get("Accept", "*/*")
        if "application/json" not in acc and "*/*" not in acc:
            self.answer(406, status_obj(406, "NotAcceptable", "only application/json"))
            return False
        return True

    def handle_any(self):
        url = urlparse(self.path)
        if url.path.startswith("/_control/"):
            self.read_body()
            return self.control(url)
        body = self.read_body()
        if not self.authorized():
            return
        if self.fault():
            return
        parts = url.path.strip("/").split("/")
        # /api/v1/namespaces/NS/pods/NAME
        if len(parts) == 6 and parts[:2] == ["api", "v1"] and parts[4] == "pods":
            return self.pod(parts[3], parts[5], body)
        # /apis/discovery.k8s.io/v1/namespaces/NS/endpointslices[/NAME]
        if parts[:3] == ["apis", "discovery.k8s.io", "v1"] and len(parts) in (6, 7) \
                and parts[5] == "endpointslices":
            return self.slice(parts[4], parts[6] if len(parts) == 7 else None, body)
        self.answer(404, status_obj(404, "NotFound", "the server could not find the requested resource"))

    def conflict_injected(self, obj):
        with lock:
            if faults["conflicts"] > 0:
                faults["conflicts"] -= 1
                obj["metadata"]["resourceVersion"] = next_rv()
                return True
        return False

    def pod(self, ns, name, body):
        with lock:
            pod = state["pods"].get(name)
        if pod is None or pod["metadata"]["namespace"] != ns:
            return self.answer(404, status_obj(404, "NotFound", 'pods "%s" not found' % name))
        if self.command == "GET":
            with lock:
                return self.answer(200, pod)
        if self.command != "PATCH":
            return self.answer(405, status_obj(405, "MethodNotAllowed", "method not allowed"))
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip()
        if ctype not in PATCH_TYPES:
            return self.answer(415, status_obj(
                415, "UnsupportedMediaType", 'the body of the request was in an unknown format - accepted media types include: ' + ", ".join(PATCH_TYPES)))
        try:
            patch = json.loads(body)
        except ValueError as e:
            return self.answer(400, status_obj(400, "BadRequest", "invalid JSON: %s" % e))
        self.conflict_injected(pod)
        with lock:
            cur = pod["metadata"]["resourceVersion"]
            try:
                if ctype == "application/json-patch+json":
                    new = json_patch(pod, patch)
                else:
                    if not isinstance(patch, dict):
                        raise ValueError("patch is not an object")
                    want = (patch.get("metadata") or {}).get("resourceVersion")
                    if want is not None and want != cur:
                        return self.answer(409, status_obj(
                            409, "Conflict",
                            'Operation cannot be fulfilled on pods "%s": the object has been modified; please apply your changes to the latest version and try again' % name))
                    new = merge_patch(pod, patch)
            except (ValueError, KeyError, TypeError) as e:
                return self.answer(422, status_obj(422, "Invalid", str(e)))
            for k, v in (new["metadata"].get("labels") or {}).items():
                if not isinstance(v, str):
                    return self.answer(422, status_obj(422, "Invalid", "label %s is not a string" % k))
            new["metadata"]["resourceVersion"] = next_rv()
            state["pods"][name] = new
            return self.answer(200, new)

    def slice(self, ns, name, body):
        key = ns + "/" + (name or "")
        if self.command == "GET" and name:
            with lock:
                es = state["slices"].get(key)
            if es is None:
                return self.answer(404, status_obj(404, "NotFound", 'endpointslices.discovery.k8s.io "%s" not found' % name))
            return self.answer(200, es)
        if self.command not in ("POST", "PUT"):
            return self.answer(405, status_obj(405, "MethodNotAllowed", "method not allowed"))
        if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
            return self.answer(415, status_obj(415, "UnsupportedMediaType", "POST/PUT take application/json"))
        try:
            obj = json.loads(body)
            oname = obj["metadata"]["name"]
        except (ValueError, KeyError, TypeError) as e:
            return self.answer(400, status_obj(400, "BadRequest", "invalid EndpointSlice: %s" % e))
        if obj.get("apiVersion") != "discovery.k8s.io/v1" or obj.get("kind") != "EndpointSlice":
            return self.answer(400, status_obj(400, "BadRequest", "wrong apiVersion/kind"))
        if obj["metadata"].get("namespace", ns) != ns:
            return self.answer(400, status_obj(400, "BadRequest", "namespace mismatch"))
        if self.command == "POST":
            key = ns + "/" + oname
            with lock:
                if key in state["slices"]:
                    return self.answer(409, status_obj(409, "AlreadyExists", 'endpointslices.discovery.k8s.io "%s" already exists' % oname))
                if "resourceVersion" in obj["metadata"]:
                    return self.answer(400, status_obj(400, "BadRequest", "resourceVersion should not be set on objects to be created"))
                obj["metadata"]["namespace"] = ns
                obj["metadata"]["resourceVersion"] = next_rv()
                state["slices"][key] = obj
                return self.answer(201, obj)
        if oname != name:
            return self.answer(400, status_obj(400, "BadRequest", "name in body differs from URL"))
        with lock:
            cur = state["slices"].get(key)
        if cur is None:
            return self.answer(404, status_obj(404, "NotFound", "not found"))
        self.conflict_injected(cur)
        with lock:
            if obj["metadata"].get("resourceVersion") != cur["metadata"]["resourceVersion"]:
                return self.answer(409, status_obj(409, "Conflict", 'Operation cannot be fulfilled on endpointslices.discovery.k8s.io "%s": the object has been modified; please apply your changes to the latest version and try again' % name))
            obj["metadata"]["namespace"] = ns
            obj["metadata"]["resourceVersion"] = next_rv()
            state["slices"][key] = obj
            return self.answer(200, obj)

    do_GET = handle_any
    do_PATCH = handle_any
    do_POST = handle_any
    do_PUT = handle_any
    do_DELETE = handle_any


class TLSServer(ThreadingHTTPServer):
    """TLS handshake in the request's thread: a client that stalls or
    aborts its handshake (a wrong CA) never blocks accept()"""
    daemon_threads = True
    ctx = None

    def finish_request(self, request, client_address):
        request.settimeout(30)
        try:
            tls = self.ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            try:
                tls.close()
            except OSError:
                pass


def main():
    global token_file
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--token-file", required=True)
    ap.add_argument("--ready-file", help="written once listening")
    a = ap.parse_args()
    token_file = a.token_file
    srv = TLSServer(("127.0.0.1", a.port), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    srv.ctx = ctx
    if a.ready_file:
        with open(a.ready_file, "w") as f:
            f.write("ready\n")
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
