/* OpenSSL's libcrypto (1.1 and 3.x), for SHA-256 only (process.entity_id).
 * The two functions are declared here rather than through <openssl/evp.h>,
 * whose includes would bring the C library's socket declarations into this
 * module and hide them from the modules that import Glibc. */
#ifndef BINDSNOOP_COPENSSL_SHIM_H
#define BINDSNOOP_COPENSSL_SHIM_H

#include <stddef.h>

typedef struct evp_md_st EVP_MD;
typedef struct engine_st ENGINE;
extern const EVP_MD *EVP_sha256(void);
extern int EVP_Digest(const void *data, size_t count, unsigned char *md, unsigned int *size,
		      const EVP_MD *type, ENGINE *impl);

/* SHA-256 of size bytes at data into out (32 bytes); 1 on success. */
static inline int bindsnoop_sha256(const void *data, size_t size, unsigned char *out)
{
	unsigned int length = 0;

	return EVP_Digest(data, size, out, &length, EVP_sha256(), NULL) == 1 && length == 32;
}

#endif
