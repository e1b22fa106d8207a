/*
 * hash.c - SHA-256 over libsodium, one implementation for all of core.
 *
 * crm_sha256 wraps crypto_hash_sha256_state so that callers never see
 * libsodium's finish-once API: peeking at the digest works on a copy, so a
 * state can be forked (the message digest commits to "up to the last
 * non-space byte" that way). GMime objects are hashed through a pass-through
 * GMimeFilter that feeds the bytes in, so nothing is buffered.
 */
#include "crmgate/hash.h"

#include <gmime/gmime.h>

void crm_sha256_init(crm_sha256 *h)
{
    crypto_hash_sha256_init(&h->st);
}

void crm_sha256_update(crm_sha256 *h, const void *data, size_t len)
{
    if (len > 0)
        crypto_hash_sha256_update(&h->st, data, len);
}

void crm_sha256_peek_hex(const crm_sha256 *h, char out[CRM_SHA256_HEX_SIZE])
{
    crypto_hash_sha256_state copy = h->st;
    unsigned char bin[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&copy, bin);
    sodium_bin2hex(out, CRM_SHA256_HEX_SIZE, bin, sizeof(bin));
}

void crm_sha256_hex(const void *data, size_t len, char out[CRM_SHA256_HEX_SIZE])
{
    crm_sha256 h;
    crm_sha256_init(&h);
    crm_sha256_update(&h, data, len);
    crm_sha256_peek_hex(&h, out);
}

/* ---- a pass-through GMimeFilter feeding a crm_sha256 ---- */

typedef struct {
    GMimeFilter parent;
    crm_sha256 sum;
    gsize size;
} hash_filter;

typedef struct {
    GMimeFilterClass parent_class;
} hash_filterClass;

GType hash_filter_get_type(void);
// cppcheck-suppress unknownMacro
G_DEFINE_TYPE(hash_filter, hash_filter, GMIME_TYPE_FILTER)

static GMimeFilter *hash_filter_copy(GMimeFilter *f)
{
    hash_filter *n = g_object_new(hash_filter_get_type(), NULL);
    n->sum = ((hash_filter *)f)->sum;
    n->size = ((hash_filter *)f)->size;
    return GMIME_FILTER(n);
}

static void hash_filter_filter(GMimeFilter *f, char *in, size_t len,
                               size_t prespace, char **out, size_t *outlen,
                               size_t *outprespace)
{
    hash_filter *h = (hash_filter *)f;
    crm_sha256_update(&h->sum, in, len);
    h->size += len;
    *out = in;
    *outlen = len;
    *outprespace = prespace;
}

static void hash_filter_reset(GMimeFilter *f)
{
    hash_filter *h = (hash_filter *)f;
    crm_sha256_init(&h->sum);
    h->size = 0;
}

static void hash_filter_class_init(hash_filterClass *klass)
{
    GMimeFilterClass *fc = GMIME_FILTER_CLASS(klass);
    fc->copy = hash_filter_copy;
    fc->filter = hash_filter_filter;
    fc->complete = hash_filter_filter;
    fc->reset = hash_filter_reset;
}

static void hash_filter_init(hash_filter *h)
{
    crm_sha256_init(&h->sum);
    h->size = 0;
}

void crm_sha256_mime_object(GMimeObject *obj, char out[CRM_SHA256_HEX_SIZE],
                            gsize *size_r)
{
    GMimeStream *null = g_mime_stream_null_new();
    GMimeStream *fs = g_mime_stream_filter_new(null);
    hash_filter *h = g_object_new(hash_filter_get_type(), NULL);
    g_mime_stream_filter_add(GMIME_STREAM_FILTER(fs), GMIME_FILTER(h));
    g_mime_object_write_to_stream(obj, NULL, fs);
    g_mime_stream_flush(fs);
    crm_sha256_peek_hex(&h->sum, out);
    *size_r = h->size;
    g_object_unref(h);
    g_object_unref(fs);
    g_object_unref(null);
}
