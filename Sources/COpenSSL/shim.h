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
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/pem.h>
#include <openssl/bio.h>
#include <openssl/hmac.h>

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

/// A fresh P-256 key pair (EVP_EC_gen is a macro over a variadic function). NULL on failure.
static inline EVP_PKEY *tapd_ec_p256_generate(void) {
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (ctx != NULL && EVP_PKEY_keygen_init(ctx) > 0 && EVP_PKEY_CTX_set_group_name(ctx, "P-256") > 0) {
        if (EVP_PKEY_generate(ctx, &pkey) <= 0) pkey = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    return pkey;
}

/// Adds one X.509 v3 extension given in OpenSSL's configuration syntax ("critical,CA:TRUE"), with `issuer` as
/// the issuing certificate (the certificate itself when self-signed). Returns 1 on success.
static inline int tapd_x509_add_extension(X509 *cert, X509 *issuer, int nid, const char *value) {
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (ext == NULL) return 0;
    int ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok;
}

/// Sets the subject's (or issuer's) name to a single common name. Returns 1 on success.
static inline int tapd_x509_set_common_name(X509 *cert, const char *cn) {
    X509_NAME *name = X509_get_subject_name(cert);
    return X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
}

/// BIO_get_mem_data is a macro: the bytes written to a memory BIO.
static inline long tapd_bio_mem_data(BIO *bio, const char **data) { return BIO_get_mem_data(bio, data); }

#endif
