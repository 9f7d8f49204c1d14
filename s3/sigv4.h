/* AWS Signature Version 4 as S3 checks it: the request's signature, and
 * the aws-chunked bodies whose chunks are signed one after another.
 *
 * Pure: no I/O, no clock (the caller passes its own `now`), no state
 * outside the structures given; callable from any thread, each
 * structure used by one at a time. OpenSSL's libcrypto does the hashing.
 *
 * The signed text, for a request (sigv4_check):
 *
 *   CanonicalRequest = method "\n" uri "\n" query "\n"
 *                      headers "\n" signed_headers "\n" payload
 *   StringToSign     = "AWS4-HMAC-SHA256\n" amz_date "\n" scope "\n"
 *                      hex(SHA-256(CanonicalRequest))
 *   SigningKey       = HMAC(HMAC(HMAC(HMAC("AWS4" secret, date), region),
 *                      "s3"), "aws4_request")
 *   Signature        = hex(HMAC(SigningKey, StringToSign))
 *
 * where uri is the path as sent, percent-decoded and encoded again (RFC
 * 3986 unreserved characters and '/' as they are, every other byte %XX
 * in upper case; no '.', '..' or '//' folding); query is every parameter
 * decoded and encoded again the same way but with '/' encoded too (a raw
 * '+' is a plus, %2B), a parameter without '=' having an empty value,
 * sorted by name then value and joined as name=value with '&' (a
 * presigned URL's X-Amz-Signature left out); headers is, for each name of
 * SignedHeaders, name ":" value "\n" with the value trimmed and each run
 * of spaces and tabs in it made one space; payload is the
 * x-amz-content-sha256 header's value as sent, or for a presigned URL
 * UNSIGNED-PAYLOAD unless its query (X-Amz-Content-Sha256) or signed
 * headers give one; scope is date "/" region "/s3/aws4_request" as the
 * credential names them. Any region is taken: the signature must hold
 * for the one the client names.
 *
 * A chunk of an aws-chunked body (sigv4_chunks) reads
 *
 *   hex-size [";chunk-signature=" 64 hex] "\r\n" data "\r\n"
 *
 * ending with a chunk of size 0, after which come trailer lines
 * "name:value\r\n" (the unsigned-trailer variant only) and "\r\n". The
 * signature of a chunk is hex(HMAC(SigningKey, s)) with s =
 *
 *   "AWS4-HMAC-SHA256-PAYLOAD\n" amz_date "\n" scope "\n" previous "\n"
 *   hex(SHA-256("")) "\n" hex(SHA-256(data))
 *
 * previous being the chunk before's signature, the request's for the
 * first. */
#ifndef CASK_S3_SIGV4_H
#define CASK_S3_SIGV4_H

#include <stddef.h>
#include <stdint.h>

#include "s3/creds.h"

#define SIGV4_SKEW_S	  900	 /* header auth: the clocks' leeway */
#define SIGV4_EXPIRES_MAX 604800 /* presigned: X-Amz-Expires, s */
#define SIGV4_VALUE_MAX                                                        \
	8192			   /* bytes of the path, the query, or         \
				      one header's value */
#define SIGV4_PARAMS_MAX      1024 /* parameters in the query */
#define SIGV4_SIGNED_MAX      128  /* names in SignedHeaders */
#define SIGV4_HEADER_NAME_MAX 128  /* bytes of one signed header's name */
#define SIGV4_REGION_MAX      64   /* bytes of the scope's region */
#define SIGV4_CHUNK_MAX	      (16u << 20) /* bytes of one chunk's data */
#define SIGV4_CHUNK_LINE_MAX                                                   \
	512		     /* bytes of a chunk-size or trailer               \
				line, without its CRLF */
#define SIGV4_TRAILERS_MAX 8 /* trailer lines kept */

/* What the gateway knows about one request. header returns the value of
 * the named header (names are case-insensitive) as sent, or NULL; the
 * module trims and collapses spaces itself. */
struct sigv4_request {
	const char *method; /* "GET" */
	const char *path;   /* as sent, still percent-encoded: "/b/a%20b" */
	const char *query;  /* the raw query without '?', "" when none */
	const char *(*header)(void *arg, const char *name);
	void *arg;
	int64_t now; /* seconds since the epoch, the caller's clock */
};

enum sigv4_payload {
	/* UNSIGNED-PAYLOAD, or a presigned URL without a payload hash */
	SIGV4_PAYLOAD_UNSIGNED,
	/* x-amz-content-sha256 is the body's SHA-256, in sha256: the caller
	 * hashes the body and compares, refusing a mismatch with
	 * XAmzContentSHA256Mismatch */
	SIGV4_PAYLOAD_SHA256,
	/* STREAMING-AWS4-HMAC-SHA256-PAYLOAD: aws-chunked, each chunk
	 * signed (sigv4_chunks) */
	SIGV4_PAYLOAD_STREAMING,
	/* STREAMING-UNSIGNED-PAYLOAD-TRAILER: aws-chunked, chunks unsigned,
	 * trailers (x-amz-checksum-*) after the last (sigv4_chunks) */
	SIGV4_PAYLOAD_STREAMING_UNSIGNED_TRAILER,
};

/* A request's checked signature, and what its body's decoder needs. */
struct sigv4_auth {
	char access_key[128];
	enum sigv4_payload payload;
	uint8_t sha256[32]; /* SIGV4_PAYLOAD_SHA256 */
	uint8_t signing_key[32];
	char amz_date[17]; /* 20130524T000000Z */
	char scope[160];   /* 20130524/us-east-1/s3/aws4_request */
	char seed[65];	   /* the request's signature, lower-case hex */
};

/* A refusal as S3 words it: its XML <Code>, the HTTP status, and a
 * one-line message in static storage. */
struct sigv4_error {
	const char *code;
	unsigned status;
	const char *message;
};

/* Checks the request's signature against the secrets of c, either
 *
 * - header auth: Authorization "AWS4-HMAC-SHA256 Credential=AK/DATE/
 *   REGION/s3/aws4_request, SignedHeaders=a;b, Signature=64hex" (the
 *   three in any order), X-Amz-Date (or, without it, an RFC 1123 Date)
 *   within SIGV4_SKEW_S of now, and x-amz-content-sha256; or
 * - a presigned URL: X-Amz-Algorithm=AWS4-HMAC-SHA256, X-Amz-Credential,
 *   X-Amz-Date, X-Amz-Expires (1 to SIGV4_EXPIRES_MAX), X-Amz-
 *   SignedHeaders and X-Amz-Signature in the query, good from X-Amz-Date
 *   (less SIGV4_SKEW_S) to X-Amz-Date + X-Amz-Expires inclusive.
 *
 * SignedHeaders must be lower-case, sorted, without repeats, and name
 * host; the credential's date must be amz_date's; the service "s3".
 * Signatures are compared in constant time.
 *
 * Returns 0 with *out filled (and *err cleared), or a negative errno with
 * *err set and *out cleared:
 *   -ENOENT  neither Authorization nor a presigned query: AccessDenied 403
 *            (anonymous requests are refused);
 *   -EACCES  403: InvalidAccessKeyId, SignatureDoesNotMatch (also for a
 *            signed header the request lacks), RequestTimeTooSkewed,
 *            AccessDenied (an expired or not yet valid presigned URL, a
 *            missing or bad date header);
 *   -EINVAL  400: AuthorizationHeaderMalformed,
 *            AuthorizationQueryParametersError, InvalidRequest (a bad
 *            escape in the path or query, a path or query over
 *            SIGV4_VALUE_MAX, no x-amz-content-sha256), InvalidArgument
 *            (an algorithm other than AWS4-HMAC-SHA256, both kinds of
 *            auth at once, an x-amz-content-sha256 that is none of the
 *            enum's), RequestHeaderSectionTooLarge (a header's value
 *            over SIGV4_VALUE_MAX);
 *   -ENOMEM  InternalError 500. */
int sigv4_check(const struct sigv4_request *r, const struct s3_creds *c,
		struct sigv4_auth *out, struct sigv4_error *err);

/* The decoder of an aws-chunked body, for both STREAMING payloads. Input
 * comes in pieces of any size; decoded bytes go to `out` as soon as they
 * are known good: a signed chunk's once its signature held (so one chunk
 * is held, which is why chunks over SIGV4_CHUNK_MAX are refused), an
 * unsigned chunk's as they arrive. Owned by the request. */
struct sigv4_chunks;

/* a is a sigv4_check's result (copied: it need not outlive the decoder)
 * with a STREAMING payload; decoded_max is the declared
 * x-amz-decoded-content-length, or UINT64_MAX when none was. Returns 0,
 * -EINVAL (another payload) or -ENOMEM. */
int sigv4_chunks_new(const struct sigv4_auth *a, uint64_t decoded_max,
		     struct sigv4_chunks **out);

/* Takes the next len bytes of the body. Returns 0; -EBADMSG when it is
 * malformed (a chunk-size or trailer line over SIGV4_CHUNK_LINE_MAX, more
 * than decoded_max bytes, bytes after the end, trailers in a signed
 * body); -EACCES when a chunk's signature does not hold (none of that
 * chunk was passed to out); -E2BIG for a chunk over SIGV4_CHUNK_MAX;
 * -ENOMEM; or the negative value out returned. An error sticks: later
 * calls return it again. */
int sigv4_chunks_feed(struct sigv4_chunks *d, const char *in, size_t len,
		      int (*out)(void *arg, const char *p, size_t n),
		      void *arg);

/* After the body's last byte: 0 when the final chunk (and its trailers
 * and closing CRLF) was seen, no error happened and the decoded total is
 * decoded_max (when declared); -EBADMSG otherwise. */
int sigv4_chunks_end(struct sigv4_chunks *d);

/* The decoded byte count so far. */
uint64_t sigv4_chunks_total(const struct sigv4_chunks *d);

/* The value of trailer `name` (case-insensitive; the value trimmed), or
 * NULL. x-amz-trailer-signature is accepted and not kept. Valid until
 * sigv4_chunks_free. */
const char *sigv4_chunks_trailer(const struct sigv4_chunks *d,
				 const char *name);

/* NULL is a no-op. */
void sigv4_chunks_free(struct sigv4_chunks *d);

#endif
