/* Config tables: a model family describes its architecture once, as a table of fields (key, type,
 * default, allowed range or set, one help line), and this table alone drives the JSON "config" of
 * its weights files (writing, strict parsing, validation) and its architecture options on the
 * command line (parsing and --help). A family's config is a plain C struct; each field of the table
 * points into it by offset. */
#ifndef VKGEN_NN_CONFIG_H
#define VKGEN_NN_CONFIG_H
#include <stddef.h>
#include <stdio.h>

#include "vkgen.h"

enum nn_cfg_type {
  NN_CFG_INT,   /* int */
  NN_CFG_FLOAT, /* float */
  NN_CFG_STR,   /* char[size], one of `set` */
};

enum {
  NN_CFG_NOCLI = 1, /* in the JSON only: set by the family (e.g. derived), not an option */
  NN_CFG_FLAG = 2,  /* an int option given without a value: --key sets it to flag_value */
};

struct nn_cfg_field {
  const char *key; /* JSON key; the option is --key with '_' written '-' */
  enum nn_cfg_type type;
  size_t offset, size;    /* where in the config struct; size of a string's array */
  double def, lo, hi;     /* default and allowed range (numbers) */
  const char *set;        /* allowed values, comma-separated ("28,32,64", "bytes,gpt2"); NULL: the range */
  const char *def_str;    /* a string's default */
  const char *help;       /* one line for --help */
  int flags;              /* NN_CFG_* */
  double flag_value;      /* NN_CFG_FLAG: the value --key sets */
  const char *value_name; /* the option's value in --help (default N, X or NAME) */
  const char *opt;        /* the option's name when it is not --key (e.g. --conditional) */
};

/* One family's table. */
struct nn_cfg {
  const char *model; /* the family's name, for messages */
  const struct nn_cfg_field *fields;
  int n;
  size_t size; /* sizeof the config struct */
  /* Rules between fields (e.g. dim a multiple of heads), after every field is in range; may be NULL.
   * Returns VKG_ERR_ARG naming the fields. */
  vkg_status (*check)(const void *cfg);
  /* Fields whose values follow others' (e.g. gpt's mlp is 4 * dim unless --mlp is given), set after the
   * options are parsed; given has bit k set when field k came from an option. May be NULL. */
  void (*derive)(void *cfg, unsigned long given);
};

/* Table entries: NN_CFG_INT_F(struct gan_config, width, 8, 1, 1024, NULL, "base channel count w"). */
#define NN_CFG_INT_F(T, f, d, lo_, hi_, set_, help_)                                                                   \
  {                                                                                                                    \
    .key = #f, .type = NN_CFG_INT, .offset = offsetof(T, f), .size = sizeof(int), .def = (d), .lo = (lo_),             \
    .hi = (hi_), .set = (set_), .help = (help_)                                                                        \
  }
#define NN_CFG_FLOAT_F(T, f, d, lo_, hi_, help_)                                                                       \
  {                                                                                                                    \
    .key = #f, .type = NN_CFG_FLOAT, .offset = offsetof(T, f), .size = sizeof(float), .def = (d), .lo = (lo_),         \
    .hi = (hi_), .help = (help_), .value_name = "X"                                                                    \
  }
#define NN_CFG_STR_F(T, f, d, set_, help_)                                                                             \
  {                                                                                                                    \
    .key = #f, .type = NN_CFG_STR, .offset = offsetof(T, f), .size = sizeof(((T *)0)->f), .set = (set_),               \
    .def_str = (d), .help = (help_), .value_name = "NAME"                                                              \
  }

/* Sets every field of the table to its default (other members of the struct are left alone). */
void nn_cfg_defaults(const struct nn_cfg *c, void *cfg);
/* VKG_ERR_ARG naming the first field out of its range or set ("gan config: width 0 is out of range
 * (1 to 1024)"), then the family's own check. */
vkg_status nn_cfg_check(const struct nn_cfg *c, const void *cfg);
/* {"key": value, ...} in table order. */
void nn_cfg_json(const struct nn_cfg *c, const void *cfg, char *out, size_t n);
/* Parses a config written by nn_cfg_json, strictly: every key of the table must be there with a value
 * of its type (a whole number for an int), no other key may be, and the result must pass
 * nn_cfg_check. Errors are VKG_ERR_FORMAT and name `where` (the file) and the field. */
vkg_status nn_cfg_parse(const struct nn_cfg *c, const char *json, const char *where, void *cfg);
/* Whether two configs are equal field by field. */
int nn_cfg_equal(const struct nn_cfg *c, const void *a, const void *b);
/* The first field whose values differ in a and b, written "key A (file) vs B" into out; 0 if none. */
int nn_cfg_diff(const struct nn_cfg *c, const void *a, const void *b, char *out, size_t n);

/* If argv[i] is an architecture option (--key VALUE; the CLI splits --key=VALUE before), parses it
 * into cfg; returns the argv entries used (1 or 2), 0 if it is not one, -1 with the error set (one
 * line naming the option and its range or set). */
int nn_cfg_opt(const struct nn_cfg *c, void *cfg, int argc, char **argv, int i);
/* Which fields argv[1..argc) gives as options (--key VALUE or --key=VALUE): bit k for field k. */
unsigned long nn_cfg_given(const struct nn_cfg *c, int argc, char **argv);
/* Applies c's derive rule (if any) to cfg for the options of argv. */
void nn_cfg_derive(const struct nn_cfg *c, void *cfg, int argc, char **argv);
/* The architecture options, one line each with their defaults and ranges. */
void nn_cfg_help(const struct nn_cfg *c, FILE *f);
#endif
