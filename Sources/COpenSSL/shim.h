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
#include <string.h>

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

#include <openssl/ec.h>
#include <openssl/param_build.h>

/* SM2 (GB/T 32918, the curve "SM2" of OpenSSL 3's default provider) with raw keys as EMV-style byte strings:
   public key X ‖ Y (64 bytes), private key d (32 bytes), signature r ‖ s (64 bytes). */

/// An SM2 EVP_PKEY from X ‖ Y and, when `priv` is not NULL, d. NULL on failure.
static inline EVP_PKEY *tapd_sm2_key(const unsigned char *pub64, const unsigned char *priv32) {
    EVP_PKEY *pkey = NULL;
    unsigned char point[65];
    BIGNUM *d = NULL;
    OSSL_PARAM *params = NULL;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "SM2", NULL);
    if (bld == NULL || ctx == NULL) goto done;
    point[0] = 0x04;
    memcpy(point + 1, pub64, 64);
    if (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "SM2", 0) != 1) goto done;
    if (OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point) != 1) goto done;
    if (priv32 != NULL) {
        d = BN_bin2bn(priv32, 32, NULL);
        if (d == NULL || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d) != 1) goto done;
    }
    params = OSSL_PARAM_BLD_to_param(bld);
    if (params == NULL || EVP_PKEY_fromdata_init(ctx) <= 0) goto done;
    if (EVP_PKEY_fromdata(ctx, &pkey, priv32 != NULL ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params) <= 0)
        pkey = NULL;
done:
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_clear_free(d);
    EVP_PKEY_CTX_free(ctx);
    return pkey;
}

/// A fresh SM2 key pair written as X ‖ Y and d. Returns 1 on success.
static inline int tapd_sm2_generate(unsigned char *pub64, unsigned char *priv32) {
    int ok = 0;
    EVP_PKEY *pkey = NULL;
    BIGNUM *d = NULL;
    unsigned char point[65];
    size_t len = 0;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "SM2", NULL);
    if (ctx == NULL || EVP_PKEY_keygen_init(ctx) <= 0 || EVP_PKEY_generate(ctx, &pkey) <= 0) goto done;
    if (EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point, &len) != 1) goto done;
    if (len != 65 || point[0] != 0x04) goto done;
    if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_PRIV_KEY, &d) != 1) goto done;
    if (BN_bn2binpad(d, priv32, 32) != 32) goto done;
    memcpy(pub64, point + 1, 64);
    ok = 1;
done:
    BN_clear_free(d);
    EVP_PKEY_free(pkey);
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

/// A digest-sign or digest-verify context over SM3 with the signer's distinguishing identifier (GB/T 32918.2:
/// the hash is SM3(Z_A ‖ M), Z_A over the identifier, the curve and the public key).
static inline EVP_MD_CTX *tapd_sm2_md_ctx(EVP_PKEY *pkey, const unsigned char *id, size_t idlen, int sign) {
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new(pkey, NULL);
    if (mctx == NULL || pctx == NULL) goto fail;
    if (EVP_PKEY_CTX_set1_id(pctx, id, (int)idlen) <= 0) goto fail;
    EVP_MD_CTX_set_pkey_ctx(mctx, pctx);
    if (sign ? EVP_DigestSignInit(mctx, NULL, EVP_sm3(), NULL, pkey) <= 0
             : EVP_DigestVerifyInit(mctx, NULL, EVP_sm3(), NULL, pkey) <= 0) {
        EVP_MD_CTX_free(mctx);
        EVP_PKEY_CTX_free(pctx);
        return NULL;
    }
    return mctx;
fail:
    EVP_MD_CTX_free(mctx);
    EVP_PKEY_CTX_free(pctx);
    return NULL;
}

/// Frees a context of `tapd_sm2_md_ctx` and the key context it keeps (EVP_MD_CTX_FLAG_KEEP_PKEY_CTX: not freed
/// with it).
static inline void tapd_sm2_md_ctx_free(EVP_MD_CTX *mctx) {
    if (mctx == NULL) return;
    EVP_PKEY_CTX *pctx = EVP_MD_CTX_get_pkey_ctx(mctx);
    EVP_MD_CTX_free(mctx);
    EVP_PKEY_CTX_free(pctx);
}

/// SM2 signature r ‖ s (64 bytes) of `msg` with identifier `id`. Returns 1 on success.
static inline int tapd_sm2_sign(const unsigned char *pub64, const unsigned char *priv32, const unsigned char *msg,
                                size_t msglen, const unsigned char *id, size_t idlen, unsigned char *sig64) {
    int ok = 0;
    unsigned char der[80];
    size_t derlen = sizeof der;
    const unsigned char *p = der;
    ECDSA_SIG *sig = NULL;
    EVP_MD_CTX *mctx = NULL;
    EVP_PKEY *pkey = tapd_sm2_key(pub64, priv32);
    if (pkey == NULL) return 0;
    mctx = tapd_sm2_md_ctx(pkey, id, idlen, 1);
    if (mctx == NULL || EVP_DigestSign(mctx, der, &derlen, msg, msglen) != 1) goto done;
    sig = d2i_ECDSA_SIG(NULL, &p, (long)derlen);
    if (sig == NULL) goto done;
    if (BN_bn2binpad(ECDSA_SIG_get0_r(sig), sig64, 32) != 32) goto done;
    if (BN_bn2binpad(ECDSA_SIG_get0_s(sig), sig64 + 32, 32) != 32) goto done;
    ok = 1;
done:
    ECDSA_SIG_free(sig);
    tapd_sm2_md_ctx_free(mctx);
    EVP_PKEY_free(pkey);
    return ok;
}

/// Verifies an SM2 signature r ‖ s of `msg` with identifier `id` under X ‖ Y: 1 valid, 0 invalid, -1 the key
/// is not a point of the curve or libcrypto failed.
static inline int tapd_sm2_verify(const unsigned char *pub64, const unsigned char *msg, size_t msglen,
                                  const unsigned char *id, size_t idlen, const unsigned char *sig64) {
    int result = -1;
    unsigned char *der = NULL;
    int derlen;
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig64, 32, NULL);
    BIGNUM *s = BN_bin2bn(sig64 + 32, 32, NULL);
    EVP_MD_CTX *mctx = NULL;
    EVP_PKEY *pkey = tapd_sm2_key(pub64, NULL);
    if (sig == NULL || r == NULL || s == NULL || pkey == NULL) goto done;
    if (ECDSA_SIG_set0(sig, r, s) != 1) goto done;
    r = s = NULL;
    derlen = i2d_ECDSA_SIG(sig, &der);
    if (derlen <= 0) goto done;
    mctx = tapd_sm2_md_ctx(pkey, id, idlen, 0);
    if (mctx == NULL) goto done;
    result = EVP_DigestVerify(mctx, der, (size_t)derlen, msg, msglen) == 1 ? 1 : 0;
done:
    OPENSSL_free(der);
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    tapd_sm2_md_ctx_free(mctx);
    EVP_PKEY_free(pkey);
    ERR_clear_error();
    return result;
}

#endif
