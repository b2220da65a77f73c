/*
 * common/hash.c — SHA-256 through OpenSSL's EVP interface (libcrypto), one-shot and
 * incremental, plus hex encoding.
 *
 * The one-shot path is on hot loops (a content hash per generated task), so it fetches the
 * algorithm once per process and keeps one digest context per thread: OpenSSL 3 would
 * otherwise look the algorithm up and allocate a context on every call.
 */
#include <pthread.h>
#include <openssl/evp.h>
#include "common/ef.h"
#include "common/hash.h"

static EVP_MD *sha256_md; /* fetched once; NULL: use EVP_sha256() per call */
static pthread_key_t sha256_key;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_ctx_free(void *p)
{
    EVP_MD_CTX_free(p);
}

static void sha256_init_once(void)
{
    if (pthread_key_create(&sha256_key, sha256_ctx_free) != 0)
        return;
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

struct ef_sha256_ctx {
    EVP_MD_CTX *md;
};

void ef_hex_encode(const uint8_t *bytes, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * n] = '\0';
}

int ef_sha256(const void *data, size_t len, uint8_t out[EF_SHA256_LEN])
{
    unsigned int n = 0;
    pthread_once(&sha256_once, sha256_init_once);
    EVP_MD_CTX *c = sha256_md ? pthread_getspecific(sha256_key) : NULL;
    if (sha256_md && !c && (c = EVP_MD_CTX_new()) != NULL &&
        pthread_setspecific(sha256_key, c) != 0) {
        EVP_MD_CTX_free(c);
        c = NULL;
    }
    if (!c) { /* no fetched algorithm or no context: the plain one-shot call */
        if (!EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) || n != EF_SHA256_LEN)
            return EF_ERROR;
        return 0;
    }
    if (!EVP_DigestInit_ex2(c, sha256_md, NULL) || !EVP_DigestUpdate(c, data, len) ||
        !EVP_DigestFinal_ex(c, out, &n) || n != EF_SHA256_LEN)
        return EF_ERROR;
    return 0;
}

int ef_sha256_hex(const void *data, size_t len, char out[EF_SHA256_HEX_LEN + 1])
{
    uint8_t d[EF_SHA256_LEN];
    int rc = ef_sha256(data, len, d);
    if (rc)
        return rc;
    ef_hex_encode(d, sizeof d, out);
    return 0;
}

uint64_t ef_sha256_u64(const void *data, size_t len)
{
    uint8_t d[EF_SHA256_LEN];
    if (ef_sha256(data, len, d))
        return 0;
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | d[i];
    return v;
}

int ef_sha256_new(ef_sha256_ctx **out)
{
    ef_sha256_ctx *h = ef_calloc(1, sizeof *h);
    if (!h)
        return EF_ENOMEM;
    h->md = EVP_MD_CTX_new();
    if (!h->md || !EVP_DigestInit_ex(h->md, EVP_sha256(), NULL)) {
        ef_sha256_free(h);
        return EF_ENOMEM;
    }
    *out = h;
    return 0;
}

int ef_sha256_update(ef_sha256_ctx *h, const void *data, size_t len)
{
    return EVP_DigestUpdate(h->md, data, len) ? 0 : EF_ERROR;
}

int ef_sha256_final(ef_sha256_ctx *h, uint8_t out[EF_SHA256_LEN])
{
    unsigned int n = 0;
    if (!EVP_DigestFinal_ex(h->md, out, &n) || n != EF_SHA256_LEN)
        return EF_ERROR;
    return 0;
}

void ef_sha256_free(ef_sha256_ctx *h)
{
    if (!h)
        return;
    EVP_MD_CTX_free(h->md);
    ef_free(h);
}
