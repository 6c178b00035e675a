/* Weights files (see weights.h): one writer and one reader with its checks, for every family. */
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "nn/weights.h"

vkg_status nn_weights_metadata(vkg_st_writer *w, const char *format, const char *model, const struct nn_cfg *c,
                               const void *cfg) {
  char config[2048];
  nn_cfg_json(c, cfg, config, sizeof config);
  vkg_status s = vkg_st_add_metadata(w, "format", format);
  if (!s) s = vkg_st_add_metadata(w, "model", model);
  if (!s) s = vkg_st_add_metadata(w, "config", config);
  return s;
}

vkg_status nn_weights_save(const char *path, const char *model, const struct nn_cfg *c, const void *cfg,
                           const struct nn_params *p) {
  vkg_st_writer *w = vkg_st_writer_create();
  if (!w) return vkg__fail(VKG_ERR_OOM, "out of host memory");
  vkg_status s = nn_params_save(p, w, "");
  if (!s) s = nn_weights_metadata(w, "vkgen-weights", model, c, cfg);
  if (!s) s = vkg_st_write(w, path);
  vkg_st_writer_destroy(w);
  return s;
}

vkg_status nn_weights_open(const char *path, const char *model, const struct nn_cfg *c, void *cfg, vkg_st **out) {
  *out = NULL;
  vkg_st *st;
  vkg_status s = vkg_st_open(path, &st);
  if (s) {
    if (s == VKG_ERR_IO && !*vkg_last_hint())
      vkg__hint("train one with 'vkgen train %s', or pass --weights with the %s.safetensors it writes", model, model);
    return s;
  }
  const char *format = vkg_st_metadata(st, "format"), *m = vkg_st_metadata(st, "model");
  const char *config = vkg_st_metadata(st, "config");
  if (!m || !config || (format && strcmp(format, "vkgen-weights") && strcmp(format, "vkgen-checkpoint"))) {
    s = vkg__fail(VKG_ERR_FORMAT, "'%s' is not a vkgen weights file (its metadata lacks format, model or config)",
                  path);
    vkg__hint("pass the %s.safetensors written by 'vkgen train %s'", model, model);
  } else if (strcmp(m, model)) {
    s = vkg__fail(VKG_ERR_FORMAT, "weights '%s' are for a %.64s model, not %s", path, m, model);
    vkg__hint("use them with 'vkgen sample %.64s', or pass weights written by 'vkgen train %s'", m, model);
  } else {
    s = nn_cfg_parse(c, config, path, cfg);
  }
  if (s) {
    vkg_st_close(st);
    return s;
  }
  *out = st;
  return VKG_OK;
}

void nn_params_expect(struct nn_params *p, const vkg_st *st, const char *path) {
  p->expect = st;
  p->expect_path = path;
}

static void shape_str(char *out, size_t n, int ndim, const int64_t *shape) {
  size_t l = (size_t)snprintf(out, n, "(");
  for (int i = 0; i < ndim && l < n; i++)
    l += (size_t)snprintf(out + l, n - l, "%s%lld", i ? ", " : "", (long long)shape[i]);
  if (l < n) snprintf(out + l, n - l, "%s)", ndim == 1 ? "," : "");
}

vkg_status nn__param_expected(const struct nn_params *p, const char *name, int ndim, const int *shape) {
  int i = vkg_st_find(p->expect, name);
  if (i < 0) {
    vkg__fail(VKG_ERR_FORMAT, "weights '%s' lack tensor '%s' that their config asks for", p->expect_path, name);
    vkg__hint("the file's config and its tensors disagree (a damaged or edited file); train the model again");
    return VKG_ERR_FORMAT;
  }
  int64_t have[8], want[8];
  int nd = vkg_st_shape(p->expect, i, have), same = nd == ndim;
  for (int k = 0; k < ndim && k < 8; k++)
    want[k] = shape[k], same &= k < nd && have[k] == shape[k];
  if (!same) {
    char a[96], b[96];
    shape_str(a, sizeof a, nd, have);
    shape_str(b, sizeof b, ndim, want);
    vkg__fail(VKG_ERR_FORMAT, "weights '%s': tensor '%s' has shape %s, but the config asks for %s", p->expect_path,
              name, a, b);
    vkg__hint("the file's config and its tensors disagree (a damaged or edited file); train the model again");
    return VKG_ERR_FORMAT;
  }
  return VKG_OK;
}

vkg_status nn_weights_load(struct nn_params *p, const vkg_st *st, const char *path) {
  vkg_status s = nn_params_load(p, st, "");
  if (s) return s;
  for (int i = 0; i < vkg_st_count(st); i++) {
    const char *name = vkg_st_name(st, i);
    if (!strncmp(name, "optim.", 6) || nn_param_index(p, name) >= 0) continue;
    vkg__fail(VKG_ERR_FORMAT, "weights '%s' hold tensor '%.100s' that a model of their config does not use", path,
              name);
    vkg__hint("the file's config and its tensors disagree (a damaged or edited file); train the model again");
    return VKG_ERR_FORMAT;
  }
  return VKG_OK;
}
