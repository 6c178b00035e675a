/* Config tables (see config.h): defaults, validation, JSON and command-line options, all from one
 * table per family. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "internal.h"
#include "nn/config.h"

static int *int_at(const struct nn_cfg_field *f, void *cfg) { return (int *)((char *)cfg + f->offset); }
static float *float_at(const struct nn_cfg_field *f, void *cfg) { return (float *)((char *)cfg + f->offset); }
static char *str_at(const struct nn_cfg_field *f, void *cfg) { return (char *)cfg + f->offset; }
#define CONST_AT(kind, f, cfg) kind##_at(f, (void *)(cfg))

/* Whether `v` is one of the comma-separated items of set. */
static int in_set(const char *set, const char *v) {
  size_t n = strlen(v);
  for (const char *p = set; *p;) {
    const char *e = strchr(p, ',');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (len == n && !strncmp(p, v, n)) return 1;
    if (!e) break;
    p = e + 1;
  }
  return 0;
}

/* The option's name: --key with '_' written '-'. */
static void opt_name(const struct nn_cfg_field *f, char *out, size_t n) {
  snprintf(out, n, "--%s", f->opt ? f->opt : f->key);
  for (char *p = out; *p; p++)
    if (*p == '_') *p = '-';
}

void nn_cfg_defaults(const struct nn_cfg *c, void *cfg) {
  for (int i = 0; i < c->n; i++) {
    const struct nn_cfg_field *f = &c->fields[i];
    if (f->type == NN_CFG_INT)
      *int_at(f, cfg) = (int)f->def;
    else if (f->type == NN_CFG_FLOAT)
      *float_at(f, cfg) = (float)f->def;
    else
      snprintf(str_at(f, cfg), f->size, "%s", f->def_str ? f->def_str : "");
  }
}

/* Checks one field's value; VKG_ERR_ARG naming it. */
static vkg_status check_field(const struct nn_cfg *c, const struct nn_cfg_field *f, const void *cfg) {
  if (f->type == NN_CFG_STR) {
    const char *v = CONST_AT(str, f, cfg);
    if (f->set && !in_set(f->set, v))
      return vkg__fail(VKG_ERR_ARG, "%s config: %s '%s' is not one of %s", c->model, f->key, v, f->set);
    return VKG_OK;
  }
  double v = f->type == NN_CFG_INT ? (double)*CONST_AT(int, f, cfg) : (double)*CONST_AT(float, f, cfg);
  if (f->set && f->type == NN_CFG_INT) {
    char buf[32];
    snprintf(buf, sizeof buf, "%d", (int)v);
    if (!in_set(f->set, buf))
      return vkg__fail(VKG_ERR_ARG, "%s config: %s %d is not one of %s", c->model, f->key, (int)v, f->set);
  } else if (!(v >= f->lo && v <= f->hi)) {
    return vkg__fail(VKG_ERR_ARG, "%s config: %s %g is out of range (%g to %g)", c->model, f->key, v, f->lo, f->hi);
  }
  return VKG_OK;
}

vkg_status nn_cfg_check(const struct nn_cfg *c, const void *cfg) {
  for (int i = 0; i < c->n; i++) {
    vkg_status s = check_field(c, &c->fields[i], cfg);
    if (s) return s;
  }
  return c->check ? c->check(cfg) : VKG_OK;
}

void nn_cfg_json(const struct nn_cfg *c, const void *cfg, char *out, size_t n) {
  size_t l = 0;
  l += (size_t)snprintf(out, n, "{");
  for (int i = 0; i < c->n && l < n; i++) {
    const struct nn_cfg_field *f = &c->fields[i];
    const char *sep = i ? ", " : "";
    if (f->type == NN_CFG_INT)
      l += (size_t)snprintf(out + l, n - l, "%s\"%s\": %d", sep, f->key, *CONST_AT(int, f, cfg));
    else if (f->type == NN_CFG_FLOAT)
      l += (size_t)snprintf(out + l, n - l, "%s\"%s\": %.9g", sep, f->key, (double)*CONST_AT(float, f, cfg));
    else
      l += (size_t)snprintf(out + l, n - l, "%s\"%s\": \"%s\"", sep, f->key, CONST_AT(str, f, cfg));
  }
  if (l < n) snprintf(out + l, n - l, "}");
}

vkg_status nn_cfg_parse(const struct nn_cfg *c, const char *json, const char *where, void *cfg) {
  nn_cfg_defaults(c, cfg);
  cJSON *j = json ? cJSON_Parse(json) : NULL;
  vkg_status s = VKG_OK;
  if (!cJSON_IsObject(j)) {
    s = vkg__fail(VKG_ERR_FORMAT, "%s: the %s config '%.200s' is not a JSON object", where, c->model,
                  json ? json : "(none)");
    cJSON_Delete(j);
    return s;
  }
  /* Every key must be one of the table's. */
  for (const cJSON *it = j->child; it && !s; it = it->next) {
    int known = 0;
    for (int i = 0; i < c->n && !known; i++)
      known = it->string && !strcmp(it->string, c->fields[i].key);
    if (!known)
      s = vkg__fail(VKG_ERR_FORMAT, "%s: the %s config has a field '%.64s' that this model does not have", where,
                    c->model, it->string ? it->string : "");
  }
  for (int i = 0; i < c->n && !s; i++) {
    const struct nn_cfg_field *f = &c->fields[i];
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, f->key);
    if (!v) {
      s = vkg__fail(VKG_ERR_FORMAT, "%s: the %s config lacks '%s'", where, c->model, f->key);
    } else if (f->type == NN_CFG_STR) {
      if (!cJSON_IsString(v) || strlen(v->valuestring) >= f->size)
        s = vkg__fail(VKG_ERR_FORMAT, "%s: %s config field '%s' is not a short string", where, c->model, f->key);
      else
        snprintf(str_at(f, cfg), f->size, "%s", v->valuestring);
    } else if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) {
      s = vkg__fail(VKG_ERR_FORMAT, "%s: %s config field '%s' is not a number", where, c->model, f->key);
    } else if (f->type == NN_CFG_INT) {
      double d = v->valuedouble;
      if (d != floor(d) || fabs(d) > 2147483647.0)
        s = vkg__fail(VKG_ERR_FORMAT, "%s: %s config field '%s' is %g, not a whole number", where, c->model, f->key, d);
      else
        *int_at(f, cfg) = (int)d;
    } else {
      *float_at(f, cfg) = (float)v->valuedouble;
    }
  }
  cJSON_Delete(j);
  if (!s && (s = nn_cfg_check(c, cfg))) {
    char msg[512];
    snprintf(msg, sizeof msg, "%s", vkg_last_error());
    s = vkg__fail(VKG_ERR_FORMAT, "%s: %s", where, msg);
  }
  if (s) vkg__hint("the file is damaged or was not written by vkgen; train the model again");
  return s;
}

static int field_equal(const struct nn_cfg_field *f, const void *a, const void *b) {
  if (f->type == NN_CFG_INT) return *CONST_AT(int, f, a) == *CONST_AT(int, f, b);
  if (f->type == NN_CFG_FLOAT) return *CONST_AT(float, f, a) == *CONST_AT(float, f, b);
  return !strcmp(CONST_AT(str, f, a), CONST_AT(str, f, b));
}

int nn_cfg_equal(const struct nn_cfg *c, const void *a, const void *b) { return !nn_cfg_diff(c, a, b, NULL, 0); }

static void field_str(const struct nn_cfg_field *f, const void *cfg, char *out, size_t n) {
  if (f->type == NN_CFG_INT)
    snprintf(out, n, "%d", *CONST_AT(int, f, cfg));
  else if (f->type == NN_CFG_FLOAT)
    snprintf(out, n, "%g", (double)*CONST_AT(float, f, cfg));
  else
    snprintf(out, n, "%s", CONST_AT(str, f, cfg));
}

int nn_cfg_diff(const struct nn_cfg *c, const void *a, const void *b, char *out, size_t n) {
  for (int i = 0; i < c->n; i++) {
    const struct nn_cfg_field *f = &c->fields[i];
    if (field_equal(f, a, b)) continue;
    if (out) {
      char va[64], vb[64];
      field_str(f, a, va, sizeof va);
      field_str(f, b, vb, sizeof vb);
      snprintf(out, n, "%s %s vs %s", f->key, va, vb);
    }
    return 1;
  }
  return 0;
}

int nn_cfg_opt(const struct nn_cfg *c, void *cfg, int argc, char **argv, int i) {
  for (int k = 0; k < c->n; k++) {
    const struct nn_cfg_field *f = &c->fields[k];
    char name[64];
    opt_name(f, name, sizeof name);
    if ((f->flags & NN_CFG_NOCLI) || strcmp(argv[i], name)) continue;
    if (f->flags & NN_CFG_FLAG) {
      *int_at(f, cfg) = (int)f->flag_value;
      return 1;
    }
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) {
      vkg__fail(VKG_ERR_ARG, "%s needs a value", name);
      return -1;
    }
    if (f->type == NN_CFG_STR) {
      if ((f->set && !in_set(f->set, v)) || strlen(v) >= f->size) {
        vkg__fail(VKG_ERR_ARG, "%s expects one of %s, got '%s'", name, f->set ? f->set : "a short name", v);
        return -1;
      }
      snprintf(str_at(f, cfg), f->size, "%s", v);
      return 2;
    }
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    int whole = f->type == NN_CFG_INT ? d == floor(d) : 1;
    int ok = *v && !*end && !errno && isfinite(d) && whole && d >= f->lo && d <= f->hi;
    if (ok && f->set && f->type == NN_CFG_INT) {
      char buf[32];
      snprintf(buf, sizeof buf, "%d", (int)d);
      ok = in_set(f->set, buf);
    }
    if (!ok) {
      if (f->set)
        vkg__fail(VKG_ERR_ARG, "%s expects one of %s, got '%s'", name, f->set, v);
      else if (f->type == NN_CFG_INT)
        vkg__fail(VKG_ERR_ARG, "%s expects a whole number from %g to %g, got '%s'", name, f->lo, f->hi, v);
      else
        vkg__fail(VKG_ERR_ARG, "%s expects a number from %g to %g, got '%s'", name, f->lo, f->hi, v);
      return -1;
    }
    if (f->type == NN_CFG_INT)
      *int_at(f, cfg) = (int)d;
    else
      *float_at(f, cfg) = (float)d;
    return 2;
  }
  return 0;
}

unsigned long nn_cfg_given(const struct nn_cfg *c, int argc, char **argv) {
  unsigned long given = 0;
  for (int k = 0; k < c->n && k < (int)(8 * sizeof given); k++) {
    const struct nn_cfg_field *f = &c->fields[k];
    char name[64];
    opt_name(f, name, sizeof name);
    size_t n = strlen(name);
    for (int i = 1; i < argc && !(f->flags & NN_CFG_NOCLI); i++)
      if (!strncmp(argv[i], name, n) && (argv[i][n] == 0 || argv[i][n] == '=')) given |= 1ul << k;
  }
  return given;
}

void nn_cfg_derive(const struct nn_cfg *c, void *cfg, int argc, char **argv) {
  if (c->derive) c->derive(cfg, nn_cfg_given(c, argc, argv));
}

void nn_cfg_help(const struct nn_cfg *c, FILE *out) {
  for (int k = 0; k < c->n; k++) {
    const struct nn_cfg_field *f = &c->fields[k];
    if (f->flags & NN_CFG_NOCLI) continue;
    char name[80], range[96];
    opt_name(f, name, sizeof name);
    if (!(f->flags & NN_CFG_FLAG)) {
      size_t l = strlen(name);
      snprintf(name + l, sizeof name - l, " %s", f->value_name ? f->value_name : "N");
    }
    if (f->flags & NN_CFG_FLAG) {
      fprintf(out, "  %-18s%s\n", name, f->help);
      continue;
    }
    if (f->type == NN_CFG_STR)
      snprintf(range, sizeof range, "%s; default %s", f->set ? f->set : "", f->def_str);
    else if (f->set)
      snprintf(range, sizeof range, "%s; default %.10g", f->set, f->def);
    else
      snprintf(range, sizeof range, "%.10g to %.10g; default %.10g", f->lo, f->hi, f->def);
    fprintf(out, "  %-18s%s (%s)\n", name, f->help, range);
  }
}
