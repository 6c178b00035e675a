/* A small SPIR-V reflection: the descriptor bindings, push-constant block and specialization
 * constants a compute shader declares. Hot reload compares a recompiled shader's interface with the
 * built-in one, because the op's C launcher (bindings, push-constant struct, spec constants) was
 * written for the built-in shader and is not recompiled. */
#include <string.h>

#include "internal.h"

/* The few opcodes, decorations and storage classes read here (from the SPIR-V specification). */
enum {
  OP_TYPE_INT = 21,
  OP_TYPE_FLOAT = 22,
  OP_TYPE_VECTOR = 23,
  OP_TYPE_MATRIX = 24,
  OP_TYPE_ARRAY = 28,
  OP_TYPE_RUNTIME_ARRAY = 29,
  OP_TYPE_STRUCT = 30,
  OP_TYPE_POINTER = 32,
  OP_CONSTANT = 43,
  OP_VARIABLE = 59,
  OP_DECORATE = 71,
  OP_MEMBER_DECORATE = 72,
};
enum {
  DEC_SPEC_ID = 1,
  DEC_BLOCK = 2,
  DEC_BUFFER_BLOCK = 3,
  DEC_ARRAY_STRIDE = 6,
  DEC_BINDING = 33,
  DEC_SET = 34,
  DEC_OFFSET = 35
};
enum { SC_UNIFORM_CONSTANT = 0, SC_UNIFORM = 2, SC_PUSH_CONSTANT = 9, SC_STORAGE_BUFFER = 12 };

#define NO_VALUE 0xffffffffu
#define MAX_MEMBERS 64

/* What one result id is, as far as this reflection cares. */
struct id_info {
  uint32_t op; /* the opcode that defined it */
  uint32_t at; /* word index of that instruction */
  uint32_t binding, set, spec_id, array_stride;
  uint8_t block, buffer_block;
};

struct reflect {
  const uint32_t *code;
  size_t words;
  uint32_t bound;
  struct id_info *ids;
  /* member offsets: (struct id, member, offset) */
  struct {
    uint32_t id, member, offset;
  } * moff;
  size_t nmoff, cap_moff;
};

static uint32_t member_offset(const struct reflect *r, uint32_t id, uint32_t member) {
  for (size_t i = 0; i < r->nmoff; i++)
    if (r->moff[i].id == id && r->moff[i].member == member) return r->moff[i].offset;
  return NO_VALUE;
}

/* Bytes a type takes in a block (arrays by their stride, structs to the end of their last member). */
static uint64_t type_size(const struct reflect *r, uint32_t id, int depth) {
  if (id >= r->bound || depth > 16) return 0;
  const struct id_info *t = &r->ids[id];
  const uint32_t *w = r->code + t->at;
  switch (t->op) {
  case OP_TYPE_INT:
  case OP_TYPE_FLOAT: return w[2] / 8;
  case OP_TYPE_VECTOR:
  case OP_TYPE_MATRIX: return (uint64_t)w[3] * type_size(r, w[2], depth + 1);
  case OP_TYPE_ARRAY: {
    uint32_t len_id = w[3];
    uint64_t len = len_id < r->bound && r->ids[len_id].op == OP_CONSTANT ? r->code[r->ids[len_id].at + 3] : 0;
    uint64_t stride = t->array_stride != NO_VALUE ? t->array_stride : type_size(r, w[2], depth + 1);
    return len * stride;
  }
  case OP_TYPE_STRUCT: {
    uint32_t n = (w[0] >> 16) - 2;
    uint64_t end = 0, sum = 0;
    for (uint32_t m = 0; m < n; m++) {
      uint64_t sz = type_size(r, w[2 + m], depth + 1);
      uint32_t off = member_offset(r, id, m);
      uint64_t e = (off != NO_VALUE ? off : sum) + sz;
      sum += sz;
      if (e > end) end = e;
    }
    return end;
  }
  default: return 0;
  }
}

static int fail(char *err, size_t n, const char *msg) {
  snprintf(err, n, "%s", msg);
  return -1;
}

int vkg__spirv_iface(const uint32_t *code, size_t words, struct vkg_shader_iface *iface, char *err, size_t n) {
  memset(iface, 0, sizeof *iface);
  if (words < 5 || code[0] != 0x07230203u) return fail(err, n, "not a SPIR-V module");
  struct reflect r = {.code = code, .words = words, .bound = code[3]};
  if (r.bound == 0 || r.bound > (1u << 22)) return fail(err, n, "SPIR-V id bound out of range");
  r.ids = calloc(r.bound, sizeof *r.ids);
  if (!r.ids) return fail(err, n, "out of host memory");
  for (uint32_t i = 0; i < r.bound; i++)
    r.ids[i].binding = r.ids[i].set = r.ids[i].spec_id = r.ids[i].array_stride = NO_VALUE;

  /* One pass records definitions and decorations; a second reads the variables. */
  int bad = 0;
  for (size_t at = 5; at < words;) {
    uint32_t wc = code[at] >> 16, op = code[at] & 0xffffu;
    if (wc == 0 || at + wc > words) {
      bad = 1;
      break;
    }
    const uint32_t *w = code + at;
    uint32_t result = NO_VALUE;
    switch (op) {
    case OP_TYPE_INT:
    case OP_TYPE_FLOAT:
    case OP_TYPE_VECTOR:
    case OP_TYPE_MATRIX:
    case OP_TYPE_ARRAY:
    case OP_TYPE_RUNTIME_ARRAY:
    case OP_TYPE_STRUCT:
    case OP_TYPE_POINTER:
      if (wc >= 2) result = w[1];
      break;
    case OP_CONSTANT:
    case OP_VARIABLE:
      if (wc >= 3) result = w[2];
      break;
    case OP_DECORATE:
      if (wc >= 3 && w[1] < r.bound) {
        struct id_info *t = &r.ids[w[1]];
        uint32_t v = wc >= 4 ? w[3] : 0;
        switch (w[2]) {
        case DEC_SPEC_ID: t->spec_id = v; break;
        case DEC_BLOCK: t->block = 1; break;
        case DEC_BUFFER_BLOCK: t->buffer_block = 1; break;
        case DEC_ARRAY_STRIDE: t->array_stride = v; break;
        case DEC_BINDING: t->binding = v; break;
        case DEC_SET: t->set = v; break;
        }
      }
      break;
    case OP_MEMBER_DECORATE:
      if (wc >= 5 && w[3] == DEC_OFFSET) {
        if (r.nmoff == r.cap_moff) {
          r.cap_moff = r.cap_moff ? 2 * r.cap_moff : 64;
          void *m = realloc(r.moff, sizeof *r.moff * r.cap_moff);
          if (!m) {
            bad = 2;
            break;
          }
          r.moff = m;
        }
        r.moff[r.nmoff].id = w[1];
        r.moff[r.nmoff].member = w[2];
        r.moff[r.nmoff++].offset = w[4];
      }
      break;
    }
    if (result != NO_VALUE) {
      if (result >= r.bound) {
        bad = 1;
        break;
      }
      r.ids[result].op = op;
      r.ids[result].at = (uint32_t)at;
    }
    if (bad) break;
    at += wc;
  }

  for (uint32_t id = 0; id < r.bound && !bad; id++) {
    const struct id_info *t = &r.ids[id];
    if (t->spec_id != NO_VALUE && iface->nspec < VKG_IFACE_MAX) iface->spec_id[iface->nspec++] = t->spec_id;
    if (t->op != OP_VARIABLE) continue;
    const uint32_t *w = code + t->at;
    uint32_t sc = w[3], ptr = w[1];
    if (ptr >= r.bound || r.ids[ptr].op != OP_TYPE_POINTER) continue;
    uint32_t pointee = code[r.ids[ptr].at + 3];
    if (pointee >= r.bound) continue;
    /* Arrays of blocks count as their element block. */
    while (pointee < r.bound && (r.ids[pointee].op == OP_TYPE_ARRAY || r.ids[pointee].op == OP_TYPE_RUNTIME_ARRAY))
      pointee = code[r.ids[pointee].at + 2];
    if (pointee >= r.bound) continue;
    if (sc == SC_PUSH_CONSTANT) {
      iface->pc_size = (uint32_t)type_size(&r, pointee, 0);
      const uint32_t *s = code + r.ids[pointee].at;
      uint32_t nm = r.ids[pointee].op == OP_TYPE_STRUCT ? (s[0] >> 16) - 2 : 0;
      iface->npc_members = 0;
      for (uint32_t m = 0; m < nm && m < VKG_IFACE_MAX; m++)
        iface->pc_offset[iface->npc_members++] = member_offset(&r, pointee, m);
    } else if (sc == SC_STORAGE_BUFFER || sc == SC_UNIFORM || sc == SC_UNIFORM_CONSTANT) {
      if (iface->nbind == VKG_IFACE_MAX) continue;
      uint32_t storage = sc == SC_STORAGE_BUFFER || (sc == SC_UNIFORM && r.ids[pointee].buffer_block) ? 0
                         : sc == SC_UNIFORM                                                           ? 1
                                                                                                      : 2;
      iface->bind[iface->nbind].set = t->set == NO_VALUE ? 0 : t->set;
      iface->bind[iface->nbind].binding = t->binding;
      iface->bind[iface->nbind++].storage = storage;
    }
  }
  free(r.ids);
  free(r.moff);
  if (bad == 2) return fail(err, n, "out of host memory");
  if (bad) return fail(err, n, "malformed SPIR-V (an instruction runs past the end or an id is out of range)");
  return 0;
}

// ---- comparing two interfaces ----

static int has_binding(const struct vkg_shader_iface *f, uint32_t set, uint32_t binding) {
  for (int i = 0; i < f->nbind; i++)
    if (f->bind[i].set == set && f->bind[i].binding == binding) return i;
  return -1;
}

static void list_bindings(const struct vkg_shader_iface *f, char *buf, size_t n) {
  buf[0] = 0;
  for (int i = 0; i < f->nbind; i++)
    snprintf(buf + strlen(buf), n - strlen(buf), "%s%u", i ? ", " : "", f->bind[i].binding);
  if (!f->nbind) snprintf(buf, n, "none");
}

int vkg__iface_compatible(const struct vkg_shader_iface *old, const struct vkg_shader_iface *neu, char *why, size_t n) {
  char list[256];
  static const char *kinds[] = {"a storage buffer", "a uniform buffer", "an image or sampler"};
  for (int i = 0; i < neu->nbind; i++) {
    uint32_t set = neu->bind[i].set, b = neu->bind[i].binding;
    int j = has_binding(old, set, b);
    if (j < 0) {
      list_bindings(old, list, sizeof list);
      if (set != 0)
        snprintf(why, n, "binding %u is in descriptor set %u (the built-in shader uses set 0 only)", b, set);
      else
        snprintf(why, n, "binding %u is new (the built-in shader declares bindings %s)", b, list);
      return -1;
    }
    if (old->bind[j].storage != neu->bind[i].storage) {
      snprintf(why, n, "binding %u is %s, the built-in shader's is %s", b, kinds[neu->bind[i].storage],
               kinds[old->bind[j].storage]);
      return -1;
    }
  }
  if (neu->pc_size) {
    if (!old->pc_size) {
      snprintf(why, n, "a push-constant block of %u bytes is new (the built-in shader has none)", neu->pc_size);
      return -1;
    }
    if (neu->pc_size != old->pc_size) {
      snprintf(why, n, "the push-constant block is %u bytes, the built-in shader's is %u (its C struct is fixed)",
               neu->pc_size, old->pc_size);
      return -1;
    }
    int same = neu->npc_members == old->npc_members;
    for (int i = 0; i < neu->npc_members && same; i++)
      same = neu->pc_offset[i] == old->pc_offset[i];
    if (!same) {
      snprintf(why, n,
               "the push-constant block's members changed (%d members, the built-in shader's has %d, or "
               "their offsets differ)",
               neu->npc_members, old->npc_members);
      return -1;
    }
  }
  for (int i = 0; i < neu->nspec; i++) {
    int found = 0;
    for (int j = 0; j < old->nspec && !found; j++)
      found = old->spec_id[j] == neu->spec_id[i];
    if (!found) {
      list[0] = 0;
      for (int j = 0; j < old->nspec; j++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%u", j ? ", " : "", old->spec_id[j]);
      snprintf(why, n, "specialization constant id %u is new (the built-in shader has ids %s)", neu->spec_id[i],
               old->nspec ? list : "none");
      return -1;
    }
  }
  return 0;
}
