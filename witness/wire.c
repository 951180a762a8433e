/*
 * wire.c: the streaming replication messages the witness reads and writes
 * (witness.h), as PostgreSQL 15's protocol documents them: inside CopyData,
 * XLogData 'w' (Int64 start, Int64 end of WAL, Int64 send time, data),
 * primary keepalive 'k' (Int64 end of WAL, Int64 send time, Byte1 reply
 * requested), and our standby status update 'r' (Int64 written, flushed,
 * applied, Int64 our clock, Byte1 reply requested). Integers are big-endian;
 * times are microseconds since 2000-01-01. The server's bytes are outside
 * input: every length is checked before a read.
 */
#include "witness/witness.h"

#include <string.h>

/* seconds from 1970-01-01 to 2000-01-01 */
#define PG_EPOCH_OFFSET_S 946684800LL

static uint64_t
get64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

static void
put64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--)
	{
		p[i] = (unsigned char) (v & 0xff);
		v >>= 8;
	}
}

int
witness_wire_decode(const char *buf, size_t len, WitnessMsg *out, PgwError *err)
{
	const unsigned char *p = (const unsigned char *) buf;

	memset(out, 0, sizeof(*out));
	if (buf == NULL || len < 1)
		return pgw_error_set(err, PGW_EBADRESPONSE,
		                     "empty replication message");
	switch (p[0])
	{
		case 'w':
			if (len < 25)
				return pgw_error_set(
				    err, PGW_EBADRESPONSE,
				    "XLogData message of %zu bytes (at least 25)", len);
			out->kind = WITNESS_MSG_XLOGDATA;
			out->start_lsn = get64(p + 1);
			out->wal_end = get64(p + 9);
			out->send_time_us = (int64_t) get64(p + 17);
			out->data_len = len - 25;
			if (out->start_lsn > UINT64_MAX - out->data_len)
				return pgw_error_set(
				    err, PGW_EBADRESPONSE,
				    "XLogData past the end of the WAL address space");
			return 0;
		case 'k':
			if (len < 18)
				return pgw_error_set(
				    err, PGW_EBADRESPONSE,
				    "keepalive message of %zu bytes (at least 18)", len);
			out->kind = WITNESS_MSG_KEEPALIVE;
			out->wal_end = get64(p + 1);
			out->send_time_us = (int64_t) get64(p + 9);
			out->reply_requested = p[17] != 0;
			return 0;
		default:
			return pgw_error_set(err, PGW_EBADRESPONSE,
			                     "unexpected replication message type 0x%02x",
			                     p[0]);
	}
}

void
witness_wire_reply(const WitnessPositions *pos, int64_t now_wall_us,
                   char out[WITNESS_REPLY_LEN])
{
	unsigned char *p = (unsigned char *) out;

	p[0] = 'r';
	put64(p + 1, pos->write);
	put64(p + 9, pos->flush);
	put64(p + 17, pos->apply);
	put64(p + 25, (uint64_t) witness_pg_epoch_us(now_wall_us));
	p[33] = 0;
}

int64_t
witness_pg_epoch_us(int64_t unix_us)
{
	return unix_us - PG_EPOCH_OFFSET_S * 1000000LL;
}
