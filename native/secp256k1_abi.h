/*
 * The slice of libsecp256k1's public C API that the ticket core calls, as function-pointer
 * types.
 *
 * Why pointers and not a link-time dependency: coincurve's wheel ships libsecp256k1 compiled
 * into its cffi module and exports no shared library or headers to link against. At import
 * the core reads each function's address from `coincurve._libsecp256k1.lib` (cffi's
 * ffi.addressof) and checks its C type, so it calls exactly the build coincurve uses, with no
 * Python in the signing loop and no second copy of the library to keep patched.
 *
 * The struct layouts are libsecp256k1's documented opaque sizes (pubkey 64 bytes,
 * recoverable signature 65 bytes); the context is only ever used through a pointer.
 */
#ifndef CLEARINGHOUSE_SECP256K1_ABI_H
#define CLEARINGHOUSE_SECP256K1_ABI_H

#include <stddef.h>

typedef struct secp256k1_context_struct secp256k1_context;
typedef struct { unsigned char data[64]; } secp256k1_pubkey;
typedef struct { unsigned char data[65]; } secp256k1_ecdsa_recoverable_signature;
typedef int (*secp256k1_nonce_function)(unsigned char *nonce32, const unsigned char *msg32,
                                        const unsigned char *key32, const unsigned char *algo16,
                                        void *data, unsigned int attempt);

typedef secp256k1_context *(*ch_context_create_fn)(unsigned int flags);
typedef int (*ch_context_randomize_fn)(secp256k1_context *ctx, const unsigned char *seed32);
typedef int (*ch_seckey_verify_fn)(const secp256k1_context *ctx, const unsigned char *seckey);
typedef int (*ch_pubkey_create_fn)(const secp256k1_context *ctx, secp256k1_pubkey *pubkey,
                                   const unsigned char *seckey);
typedef int (*ch_pubkey_serialize_fn)(const secp256k1_context *ctx, unsigned char *output,
                                      size_t *outputlen, const secp256k1_pubkey *pubkey,
                                      unsigned int flags);
typedef int (*ch_sign_recoverable_fn)(const secp256k1_context *ctx,
                                      secp256k1_ecdsa_recoverable_signature *sig,
                                      const unsigned char *msghash32, const unsigned char *seckey,
                                      secp256k1_nonce_function noncefp, const void *ndata);
typedef int (*ch_recoverable_serialize_fn)(const secp256k1_context *ctx, unsigned char *output64,
                                           int *recid,
                                           const secp256k1_ecdsa_recoverable_signature *sig);
typedef int (*ch_recoverable_parse_fn)(const secp256k1_context *ctx,
                                       secp256k1_ecdsa_recoverable_signature *sig,
                                       const unsigned char *input64, int recid);
typedef int (*ch_recover_fn)(const secp256k1_context *ctx, secp256k1_pubkey *pubkey,
                             const secp256k1_ecdsa_recoverable_signature *sig,
                             const unsigned char *msghash32);

#endif
