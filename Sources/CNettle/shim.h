/* Nettle (GnuTLS's crypto library, on every Debian system through apt's
 * own dependencies), for SHA-256 only: process.entity_id. */
#ifndef BINDSNOOP_CNETTLE_SHIM_H
#define BINDSNOOP_CNETTLE_SHIM_H

#include <stddef.h>
#include <stdint.h>
#include <nettle/sha2.h>

/* SHA-256 of size bytes at data into out (32 bytes). */
static inline void bindsnoop_sha256(const void *data, size_t size, unsigned char *out)
{
	struct sha256_ctx context;

	sha256_init(&context);
	sha256_update(&context, size, (const uint8_t *)data);
	sha256_digest(&context, SHA256_DIGEST_SIZE, out);
}

#endif
