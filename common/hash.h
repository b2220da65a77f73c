/*
 * common/hash.h — content hashing: SHA-256 from OpenSSL's libcrypto.
 *
 *   char hex[EF_SHA256_HEX_LEN + 1];
 *   ef_sha256_hex(data, len, hex);      // 64 lowercase hex digits
 *
 *   ef_sha256_ctx *h; ef_sha256_new(&h);
 *   ef_sha256_update(h, a, alen); ef_sha256_update(h, b, blen);
 *   uint8_t digest[32]; ef_sha256_final(h, digest); ef_sha256_free(h);
 */
#ifndef EF_HASH_H
#define EF_HASH_H

#include <stddef.h>
#include <stdint.h>

#define EF_SHA256_LEN 32
#define EF_SHA256_HEX_LEN 64

typedef struct ef_sha256_ctx ef_sha256_ctx;

int ef_sha256(const void *data, size_t len, uint8_t out[EF_SHA256_LEN]);
int ef_sha256_hex(const void *data, size_t len, char out[EF_SHA256_HEX_LEN + 1]);
void ef_hex_encode(const uint8_t *bytes, size_t n, char *out /* 2n+1 */);
/* The first 8 bytes of the digest as a little-endian integer (for seeds). */
uint64_t ef_sha256_u64(const void *data, size_t len);

int ef_sha256_new(ef_sha256_ctx **out);
int ef_sha256_update(ef_sha256_ctx *h, const void *data, size_t len);
int ef_sha256_final(ef_sha256_ctx *h, uint8_t out[EF_SHA256_LEN]);
void ef_sha256_free(ef_sha256_ctx *h);

#endif
