/* Keccak-256 (the original Keccak padding 0x01, as Ethereum uses; not NIST SHA3-256). */
#ifndef CLEARINGHOUSE_KECCAK_H
#define CLEARINGHOUSE_KECCAK_H

#include <stddef.h>
#include <stdint.h>

#define CH_KECCAK256_DIGEST_BYTES 32

/* Hashes len bytes at data into out[32]. Thread-safe, allocation-free, no global state. */
void ch_keccak256(const uint8_t *data, size_t len, uint8_t out[CH_KECCAK256_DIGEST_BYTES]);

#endif
