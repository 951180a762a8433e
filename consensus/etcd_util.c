/*
 * etcd_util.c: the pure parts of the etcd client (no I/O): endpoint string
 * parsing, the mapping of gRPC statuses to PGW_E* codes, and protobuf
 * (un)packing into gRPC byte buffers. Unit-tested without a server.
 */
#include "consensus/consensus_int.h"

#include "common/strutil.h"
#include "common/url.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------------------
 * Pure helpers: endpoints, status mapping, (un)packing
 * ------------------------------------------------------------------------ */

static int
parse_one_endpoint(const char *s, size_t len, EtcdEndpoint *ep, PgwError *err)
{
	char buf[ETCD_HOST_MAX + 32];
	PgwUrl u;
	PgwError e2 = {0};

	memset(ep, 0, sizeof(*ep));
	if (len == 0)
		return pgw_error_set(err, PGW_EINVAL,
		                     "invalid etcd endpoint list: empty entry");
	if (len >= sizeof(buf))
		return pgw_error_set(err, PGW_EINVAL,
		                     "invalid etcd endpoint \"%.*s...\": too long", 40,
		                     s);
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (pgw_url_split(buf, &u, &e2) != 0)
		return pgw_error_set(err, PGW_EINVAL, "invalid etcd endpoint: %s",
		                     e2.msg);
	/* the endpoint is logged and shown: a password stays in its own key */
	if (u.has_userinfo)
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "invalid etcd endpoint \"%s://***@%s\": a user in the URL is not allowed (use the username and password keys)",
		    u.scheme, u.host);
	if (strcasecmp(u.scheme, "https") == 0)
		ep->tls = true;
	else if (u.scheme[0] != '\0' && strcasecmp(u.scheme, "http") != 0)
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "invalid etcd endpoint \"%s\": unknown scheme (use http:// or https://)",
		    buf);
	/* a single trailing slash is tolerated, a path is not */
	if (u.path[0] != '\0' && strcmp(u.path, "/") != 0)
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "invalid etcd endpoint \"%s\": a path is not allowed", buf);
	if (u.port == 0)
		return pgw_error_set(err, PGW_EINVAL,
		                     "invalid etcd endpoint \"%s\": missing port", buf);
	for (const char *h = u.host; *h; h++)
	{
		if (!(isalnum((unsigned char) *h) || *h == '.' || *h == '-' ||
		      *h == '_' || *h == ':' || *h == '%'))
			return pgw_error_set(
			    err, PGW_EINVAL,
			    "invalid etcd endpoint \"%s\": bad character '%c' in host", buf,
			    *h);
	}
	if (strlen(u.host) >= sizeof(ep->host))
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "invalid etcd endpoint \"%.40s...\": host too long", buf);
	pgw_strlcpy(ep->host, u.host, sizeof(ep->host));
	ep->port = u.port;
	if (strchr(ep->host, ':') != NULL)
		snprintf(ep->target, sizeof(ep->target), "[%s]:%d", ep->host, ep->port);
	else
		snprintf(ep->target, sizeof(ep->target), "%s:%d", ep->host, ep->port);
	return 0;
}

int
etcd_endpoints_parse(const char *s, EtcdEndpoint *out, int max, int *n_out,
                     PgwError *err)
{
	const char *p = s;
	int n = 0;

	*n_out = 0;
	if (s == NULL)
		return pgw_error_set(err, PGW_EINVAL,
		                     "invalid etcd endpoint list: not set");
	for (;;)
	{
		const char *end = strchr(p, ',');
		const char *b = p;
		const char *e = end ? end : p + strlen(p);
		int rc;

		while (b < e && isspace((unsigned char) *b))
			b++;
		while (e > b && isspace((unsigned char) e[-1]))
			e--;
		if (n >= max)
			return pgw_error_set(
			    err, PGW_EINVAL,
			    "invalid etcd endpoint list: more than %d endpoints", max);
		if ((rc = parse_one_endpoint(b, (size_t) (e - b), &out[n], err)) != 0)
			return rc;
		n++;
		if (end == NULL)
			break;
		p = end + 1;
	}
	*n_out = n;
	return 0;
}

const char *
etcd_grpc_code_name(int code)
{
	static const char *const names[] = {
	    "ok",
	    "canceled",
	    "unknown",
	    "invalid argument",
	    "deadline exceeded",
	    "not found",
	    "already exists",
	    "permission denied",
	    "resource exhausted",
	    "failed precondition",
	    "aborted",
	    "out of range",
	    "unimplemented",
	    "internal",
	    "unavailable",
	    "data loss",
	    "unauthenticated",
	};

	if (code >= 0 && code < (int) PGW_LENGTHOF(names))
		return names[code];
	return "unknown status";
}

int
etcd_error_from_grpc(int grpc_status, const char *details)
{
	const char *d = details ? details : "";

	switch (grpc_status)
	{
		case GRPC_STATUS_OK:
			return 0;
		case GRPC_STATUS_DEADLINE_EXCEEDED:
			return PGW_ETIMEDOUT;
		case GRPC_STATUS_UNAVAILABLE:
			return PGW_EUNAVAILABLE;
		case GRPC_STATUS_UNAUTHENTICATED:
		case GRPC_STATUS_PERMISSION_DENIED:
			return PGW_EAUTH;
		case GRPC_STATUS_NOT_FOUND:
			return PGW_ENOTFOUND;
		case GRPC_STATUS_ALREADY_EXISTS:
		case GRPC_STATUS_ABORTED:
			return PGW_ECONFLICT;
		case GRPC_STATUS_CANCELLED:
			return PGW_ECANCELED;
		case GRPC_STATUS_OUT_OF_RANGE:
			if (strstr(d, "compacted") != NULL)
				return PGW_ECOMPACTED;
			return PGW_EINVAL;
		case GRPC_STATUS_INVALID_ARGUMENT:
			if (strstr(d, "authentication failed") != NULL ||
			    strstr(d, "auth token") != NULL ||
			    strstr(d, "user name") != NULL)
				return PGW_EAUTH;
			return PGW_EINVAL;
		case GRPC_STATUS_FAILED_PRECONDITION:
			if (strstr(d, "exists") != NULL)
				return PGW_ECONFLICT;
			return PGW_EINVAL;
		case GRPC_STATUS_RESOURCE_EXHAUSTED:
			return PGW_EINVAL;
		default:
			return PGW_EIO;
	}
}

grpc_byte_buffer *
etcd_pack(const ProtobufCMessage *msg)
{
	size_t n = protobuf_c_message_get_packed_size(msg);
	grpc_slice slice = grpc_slice_malloc(n);
	grpc_byte_buffer *buf;

	protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(slice));
	buf = grpc_raw_byte_buffer_create(&slice, 1);
	grpc_slice_unref(slice);
	return buf;
}

/* etcd_unpack: decode buf (not consumed) as desc; NULL when it does not. */
ProtobufCMessage *
etcd_unpack(grpc_byte_buffer *buf, const ProtobufCMessageDescriptor *desc)
{
	grpc_byte_buffer_reader reader;
	grpc_slice slice;
	ProtobufCMessage *msg;

	if (buf == NULL || !grpc_byte_buffer_reader_init(&reader, buf))
		return NULL;
	slice = grpc_byte_buffer_reader_readall(&reader);
	msg = protobuf_c_message_unpack(desc, NULL, GRPC_SLICE_LENGTH(slice),
	                                GRPC_SLICE_START_PTR(slice));
	grpc_slice_unref(slice);
	grpc_byte_buffer_reader_destroy(&reader);
	return msg;
}
