/* GGUF (v2, v3) reading and writing.
 *
 * The reader treats every file as hostile: counts, string and array lengths, tensor
 * dimensions, type ids and data offsets are checked against the bytes left in the file
 * and against overflow before anything is allocated or trusted. It reads the header
 * (metadata and tensor table) through the file layer and never touches tensor data:
 * callers read tensor bytes themselves at gguf_tensor()->offset.
 *
 * Not owned here: what tensors mean (model/), how they are placed (tier/). */
#ifndef HY_GGUF_H
#define HY_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct file;

enum gguf_vtype {
    GGUF_U8 = 0, GGUF_I8 = 1, GGUF_U16 = 2, GGUF_I16 = 3, GGUF_U32 = 4, GGUF_I32 = 5,
    GGUF_F32 = 6, GGUF_BOOL = 7, GGUF_STR = 8, GGUF_ARR = 9, GGUF_U64 = 10, GGUF_I64 = 11,
    GGUF_F64 = 12, GGUF_VTYPE_COUNT
};

#define GGUF_MAX_DIMS 4
#define GGUF_DEFAULT_ALIGNMENT 32

struct gguf_tensor {
    const char *name;          /* NUL-terminated, owned by the gguf */
    uint32_t type;             /* enum qtype (a known type id) */
    uint32_t n_dims;           /* 1..GGUF_MAX_DIMS */
    uint64_t ne[GGUF_MAX_DIMS];/* elements per dimension, innermost first; unused = 1 */
    uint64_t n_elements;
    uint64_t offset;           /* absolute byte offset of the data in the file */
    uint64_t nbytes;           /* bytes of data */
};

struct gguf;

/* Parse the header of f. f stays owned by the caller and must outlive nothing: the
 * gguf keeps no reference to it. */
int gguf_open(struct gguf **out, struct file *f);
void gguf_free(struct gguf *g);

uint32_t gguf_version(const struct gguf *g);
uint32_t gguf_alignment(const struct gguf *g);
uint64_t gguf_data_offset(const struct gguf *g);   /* start of the tensor data section */
uint64_t gguf_file_size(const struct gguf *g);

/* ---- metadata ---- */
int64_t gguf_n_kv(const struct gguf *g);
int64_t gguf_find_key(const struct gguf *g, const char *key);   /* index or -1 */
const char *gguf_kv_key(const struct gguf *g, int64_t i);
enum gguf_vtype gguf_kv_type(const struct gguf *g, int64_t i);
/* Element type and length of an array value (-EINVAL if not an array). */
int gguf_kv_arr(const struct gguf *g, int64_t i, enum gguf_vtype *etype, uint64_t *n);
/* A short human-readable rendering of value i (arrays summarised). */
void gguf_kv_format(const struct gguf *g, int64_t i, char *buf, size_t cap);

/* Typed getters by key: 0 on success, -ENOENT when absent, -EINVAL when the stored
 * type does not convert (integers convert between widths when the value fits). */
int gguf_get_u32(const struct gguf *g, const char *key, uint32_t *out);
int gguf_get_i64(const struct gguf *g, const char *key, int64_t *out);
int gguf_get_f32(const struct gguf *g, const char *key, float *out);
int gguf_get_bool(const struct gguf *g, const char *key, bool *out);
/* String value (NUL-terminated; *len without the NUL if len), or NULL. */
const char *gguf_get_str(const struct gguf *g, const char *key, size_t *len);
/* Array by key: element type and count; NULL/ -ENOENT/-EINVAL like the getters. */
int gguf_get_arr(const struct gguf *g, const char *key, enum gguf_vtype *etype, uint64_t *n);
/* Numeric array data: n elements of etype, packed little-endian (host order). */
const void *gguf_get_arr_data(const struct gguf *g, const char *key);
/* Element j of a string array (NUL-terminated; *len set if len), or NULL. */
const char *gguf_get_arr_str(const struct gguf *g, const char *key, uint64_t j, size_t *len);
/* Index-based forms of the array accessors, for iteration. */
const void *gguf_kv_arr_data(const struct gguf *g, int64_t i);
const char *gguf_kv_arr_str(const struct gguf *g, int64_t i, uint64_t j, size_t *len);
/* A scalar value i as the file stored it: gguf_vtype_size(type) bytes, little-endian,
 * into raw[8]. -EINVAL for strings and arrays. */
int gguf_kv_scalar(const struct gguf *g, int64_t i, uint8_t raw[8]);

/* ---- tensors ---- */
int64_t gguf_n_tensors(const struct gguf *g);
const struct gguf_tensor *gguf_tensor(const struct gguf *g, int64_t i);
int64_t gguf_find_tensor(const struct gguf *g, const char *name);   /* index or -1 */

size_t gguf_vtype_size(enum gguf_vtype t);   /* 0 for STR, ARR and unknown */
const char *gguf_vtype_name(enum gguf_vtype t);

/* ---- writing ----
 * Build the metadata and tensor table, then write the header and the tensor data in
 * table order; each tensor's data is padded to the alignment. */
struct gguf_writer;
struct gguf_writer *gguf_writer_new(void);
void gguf_writer_free(struct gguf_writer *w);
int gguf_writer_set_u32(struct gguf_writer *w, const char *key, uint32_t v);
int gguf_writer_set_f32(struct gguf_writer *w, const char *key, float v);
int gguf_writer_set_bool(struct gguf_writer *w, const char *key, bool v);
int gguf_writer_set_str(struct gguf_writer *w, const char *key, const char *v);
int gguf_writer_set_arr(struct gguf_writer *w, const char *key, enum gguf_vtype etype,
                        const void *data, uint64_t n);
int gguf_writer_set_arr_str(struct gguf_writer *w, const char *key, const char *const *v,
                            uint64_t n);
/* Copy key/value i of g (any type). */
int gguf_writer_copy_kv(struct gguf_writer *w, const struct gguf *g, int64_t i);
/* Append a tensor; returns its index or a negative status. ne innermost first. */
int gguf_writer_add_tensor(struct gguf_writer *w, const char *name, uint32_t type,
                           uint32_t n_dims, const uint64_t *ne);
/* The header bytes (metadata, tensor table, padding to the data section). */
uint64_t gguf_writer_header_size(const struct gguf_writer *w);
/* Offset of tensor i's data from the start of the data section, and its size. */
uint64_t gguf_writer_tensor_offset(const struct gguf_writer *w, int i);
uint64_t gguf_writer_tensor_bytes(const struct gguf_writer *w, int i);
/* Total file size once everything is written. */
uint64_t gguf_writer_file_size(const struct gguf_writer *w);
/* Serialise the header into a malloc'ed buffer (size gguf_writer_header_size). */
int gguf_writer_header(const struct gguf_writer *w, uint8_t **out, uint64_t *len);

#endif
