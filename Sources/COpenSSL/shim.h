// System-library shim for OpenSSL libcrypto (3.x). Only includes and tiny wrappers for things Swift
// cannot call directly (macros, variadic functions, OSSL_PARAM arrays).
#ifndef TAPD_COPENSSL_SHIM_H
#define TAPD_COPENSSL_SHIM_H
#include <openssl/evp.h>
#include <openssl/bn.h>
#include <openssl/rsa.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>

/// Generates an RSA key pair of `bits` bits with public exponent `e` (3 or 65537 in EMV).
/// On success returns 1 and hands out freshly allocated n and d (the caller frees them).
static inline int tapd_rsa_generate(int bits, unsigned long e, BIGNUM **n_out, BIGNUM **d_out) {
    int ok = 0;
    EVP_PKEY *pkey = NULL;
    BIGNUM *bne = BN_new();
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    if (bne == NULL || ctx == NULL) goto done;
    if (BN_set_word(bne, e) != 1) goto done;
    if (EVP_PKEY_keygen_init(ctx) <= 0) goto done;
    if (EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, bits) <= 0) goto done;
    if (EVP_PKEY_CTX_set1_rsa_keygen_pubexp(ctx, bne) <= 0) goto done;
    if (EVP_PKEY_generate(ctx, &pkey) <= 0) goto done;
    if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, n_out) != 1) goto done;
    if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_D, d_out) != 1) { BN_free(*n_out); *n_out = NULL; goto done; }
    ok = 1;
done:
    EVP_PKEY_free(pkey);
    EVP_PKEY_CTX_free(ctx);
    BN_free(bne);
    return ok;
}

/// BN_num_bytes is a macro.
static inline int tapd_bn_num_bytes(const BIGNUM *a) { return BN_num_bytes(a); }

#endif
