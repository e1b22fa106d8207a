/*
 * hash.h - the one SHA-256 of crmgate (libsodium's, about three times
 * faster than GChecksum's; capture hashes every byte it stores).
 *
 * Digests are written as 64 lower-case hex digits plus a NUL
 * (CRM_SHA256_HEX_SIZE bytes). Use these everywhere a SHA-256 is needed:
 * message digests, attachment hashes, later tokens and recordings.
 */
#ifndef CRMGATE_HASH_H
#define CRMGATE_HASH_H

#include <glib.h>
typedef struct _GMimeObject GMimeObject; /* GMime's; only a pointer here */
#include <sodium.h>
#include <stddef.h>

#define CRM_SHA256_HEX_SIZE 65

/* A running SHA-256; copy it by assignment to fork a state. */
typedef struct {
    crypto_hash_sha256_state st;
} crm_sha256;

/* Starts a running SHA-256. */
void crm_sha256_init(crm_sha256 *h);
/* Feeds len bytes of data. */
void crm_sha256_update(crm_sha256 *h, const void *data, size_t len);
/* Writes the hex digest of what h has seen so far; h is not finished and
   can go on. */
void crm_sha256_peek_hex(const crm_sha256 *h, char out[CRM_SHA256_HEX_SIZE]);
/* Writes the hex SHA-256 of len bytes of data. */
void crm_sha256_hex(const void *data, size_t len,
                    char out[CRM_SHA256_HEX_SIZE]);

/* Writes the hex SHA-256 of GMime's serialisation of obj and its size in
   bytes to *size_r, streaming (nothing is held in memory). */
void crm_sha256_mime_object(GMimeObject *obj, char out[CRM_SHA256_HEX_SIZE],
                            gsize *size_r);

#endif
