"""vkgen from Python: generative neural networks on any Vulkan GPU.

A thin layer over the C library libvkgen.so (ctypes), with numpy arrays in and out:

    import vkgen
    vkgen.devices()                              # the Vulkan devices, as dicts
    with vkgen.Context() as ctx:                 # a device (VKGEN_DEVICE, else the best one)
        g = ctx.graph()
        x = g.input("x", (2, 3))
        w = g.input("w", (3, 4))
        y = g.output(g.relu(x @ w))
        g.compile()
        g.write(x, numpy_array_2x3)
        g.write(w, numpy_array_3x4)
        g.run()
        g.read(y)                                # a (2, 4) float32 array

    gan = vkgen.load("gan")                      # the shipped default weights
    images = gan.sample(n=16, seed=1)            # (16, 1, 28, 28) float32 in [0, 1]
    gan.eval(n=1000)                             # the dict of 'vkgen eval gan --json'
    model = vkgen.train("gan", out="runs/gan", epochs=1)

The model families run the same code as 'vkgen train|sample|eval|bench FAMILY' (the C function
vkg_family_run): keyword options are the command's options (n=16 is -n 16, o="x.png" is -o x.png,
steps_per_row=4 is --steps-per-row 4, conditional=True is --conditional, False or None leaves an
option out). Every failure raises vkgen.Error with vkgen's
message and hint.

The library is found through $VKGEN_LIBRARY (a path), then next to this module's installed place,
then by the dynamic loader.
"""

import ctypes
import json
import os
import re
import shutil
import tempfile

import numpy as np

__all__ = [
    "Error", "version", "devices", "Context", "Graph", "Tensor", "families", "asset", "run", "load",
    "train", "Model",
]

# ---- the library ----


def _load_library():
    tried = []
    names = []
    if os.environ.get("VKGEN_LIBRARY"):
        names.append(os.environ["VKGEN_LIBRARY"])
    try:
        from . import _build
        names.append(os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                   _build.LIBRARY_FROM_MODULE)))
        names.append(os.path.basename(_build.LIBRARY_FROM_MODULE))
    except ImportError:
        pass
    names.append("libvkgen.so")
    for name in names:
        if os.sep in name and not os.path.exists(name):
            tried.append(name + ": no such file")
            continue
        try:
            return ctypes.CDLL(name)
        except OSError as e:
            tried.append(str(e))
    raise ImportError("vkgen: cannot load the library libvkgen.so (" + "; ".join(tried) +
                      "); set VKGEN_LIBRARY to its path")


_lib = _load_library()

_c_char_p = ctypes.c_char_p
_int = ctypes.c_int
_vp = ctypes.c_void_p
_t = ctypes.c_int32  # vkg_t: a tensor of a graph
_size = ctypes.c_size_t


class _DeviceInfo(ctypes.Structure):
    _fields_ = [("index", _int), ("name", ctypes.c_char * 256), ("type", _c_char_p),
                ("api_version", ctypes.c_uint32), ("driver_version", ctypes.c_uint32),
                ("vendor_id", ctypes.c_uint32), ("device_id", ctypes.c_uint32),
                ("subgroup_size", ctypes.c_uint32), ("shared_memory", ctypes.c_uint32),
                ("device_memory", ctypes.c_uint64), ("fp16", _int), ("int8", _int), ("coopmat", _int),
                ("timestamps", _int)]


class _CtxDesc(ctypes.Structure):
    _fields_ = [("device", _c_char_p), ("validate", _int), ("pipeline_cache", _c_char_p),
                ("watch_shaders", _c_char_p)]


class _Images(ctypes.Structure):
    _fields_ = [("n", _int), ("c", _int), ("h", _int), ("w", _int),
                ("pixels", ctypes.POINTER(ctypes.c_float)), ("labels", ctypes.POINTER(ctypes.c_uint8))]


def _fn(name, restype, *argtypes):
    f = getattr(_lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


_f32p = ctypes.POINTER(ctypes.c_float)
_i32p = ctypes.POINTER(ctypes.c_int32)
_intp = ctypes.POINTER(_int)
_C = {
    "version": _fn("vkg_version", _c_char_p),
    "status_str": _fn("vkg_status_str", _c_char_p, _int),
    "last_error": _fn("vkg_last_error", _c_char_p),
    "last_hint": _fn("vkg_last_hint", _c_char_p),
    "enumerate_devices": _fn("vkg_enumerate_devices", _int, ctypes.POINTER(_DeviceInfo), _int, _intp),
    "ctx_desc_default": _fn("vkg_ctx_desc_default", _CtxDesc),
    "ctx_create": _fn("vkg_ctx_create", _int, ctypes.POINTER(_CtxDesc), ctypes.POINTER(_vp)),
    "ctx_destroy": _fn("vkg_ctx_destroy", None, _vp),
    "ctx_device": _fn("vkg_ctx_device", ctypes.POINTER(_DeviceInfo), _vp),
    "ctx_validation_messages": _fn("vkg_ctx_validation_messages", ctypes.c_uint32, _vp),
    "ctx_validation_enabled": _fn("vkg_ctx_validation_enabled", _int, _vp),
    "graph_create": _fn("vkg_graph_create", _int, _vp, ctypes.POINTER(_vp)),
    "graph_destroy": _fn("vkg_graph_destroy", None, _vp),
    "graph_status": _fn("vkg_graph_status", _int, _vp),
    "input": _fn("vkg_input", _t, _vp, _c_char_p, _int, _int, _intp),
    "output": _fn("vkg_output", None, _vp, _t),
    "ndim": _fn("vkg_ndim", _int, _vp, _t),
    "dim": _fn("vkg_dim", _int, _vp, _t, _int),
    "type": _fn("vkg_type", _int, _vp, _t),
    "scalar": _fn("vkg_scalar", _int, _vp, _c_char_p),
    "set_f32": _fn("vkg_graph_set_f32", _int, _vp, _int, ctypes.c_float),
    "set_u32": _fn("vkg_graph_set_u32", _int, _vp, _int, ctypes.c_uint32),
    "compile": _fn("vkg_graph_compile", _int, _vp),
    "run": _fn("vkg_graph_run", _int, _vp),
    "write": _fn("vkg_graph_write", _int, _vp, _t, _f32p, _size),
    "write_i32": _fn("vkg_graph_write_i32", _int, _vp, _t, _i32p, _size),
    "read": _fn("vkg_graph_read", _int, _vp, _t, _f32p, _size),
    "read_i32": _fn("vkg_graph_read_i32", _int, _vp, _t, _i32p, _size),
    "matmul": _fn("vkg_matmul", _t, _vp, _t, _t, _t, ctypes.c_uint),
    "binary": _fn("vkg_binary", _t, _vp, _int, _t, _t),
    "unary": _fn("vkg_unary", _t, _vp, _int, _t, ctypes.c_float, ctypes.c_float),
    "softmax": _fn("vkg_softmax", _t, _vp, _t),
    "log_softmax": _fn("vkg_log_softmax", _t, _vp, _t),
    "layernorm": _fn("vkg_layernorm", _t, _vp, _t, _t, _t, ctypes.c_float),
    "reduce": _fn("vkg_reduce", _t, _vp, _int, _t, _int, _int),
    "reshape": _fn("vkg_reshape", _t, _vp, _t, _int, _intp),
    "permute": _fn("vkg_permute", _t, _vp, _t, _intp),
    "full": _fn("vkg_full", _t, _vp, _int, _intp, ctypes.c_float),
    "random_normal": _fn("vkg_random_normal", _t, _vp, _int, _intp, _int, ctypes.c_float, ctypes.c_float),
    "family_count": _fn("vkg_family_count", _int),
    "family_name": _fn("vkg_family_name", _c_char_p, _int),
    "family_summary": _fn("vkg_family_summary", _c_char_p, _int),
    "family_run": _fn("vkg_family_run", _int, _c_char_p, _c_char_p, _int, ctypes.POINTER(_c_char_p),
                      ctypes.POINTER(_vp)),
    "asset_path": _fn("vkg_asset_path", _int, _c_char_p, _c_char_p, _size),
    "st_open": _fn("vkg_st_open", _int, _c_char_p, ctypes.POINTER(_vp)),
    "st_close": _fn("vkg_st_close", None, _vp),
    "st_metadata": _fn("vkg_st_metadata", _c_char_p, _vp, _c_char_p),
    "image_load": _fn("vkg_image_load", _int, _c_char_p, ctypes.POINTER(_Images)),
    "images_free": _fn("vkg_images_free", None, ctypes.POINTER(_Images)),
}
_libc_free = ctypes.CDLL(None).free
_libc_free.argtypes = [_vp]
_libc_free.restype = None

# vkg_status, in the order of the C enum.
_STATUS = ["VKG_OK", "VKG_ERR_VULKAN", "VKG_ERR_NO_DEVICE", "VKG_ERR_IO", "VKG_ERR_SHAPE", "VKG_ERR_OOM",
           "VKG_ERR_ARG", "VKG_ERR_UNSUPPORTED", "VKG_ERR_FORMAT", "VKG_ERR_DEVICE_LOST", "VKG_ERR_NUMERIC"]


def _s(b):
    return b.decode("utf-8", "replace") if b is not None else None


def _b(s):
    return s.encode() if isinstance(s, str) else s


class Error(Exception):
    """A vkgen failure: status (e.g. "VKG_ERR_IO"), message and hint (may be "") as vkgen gives them."""

    def __init__(self, status, message, hint=""):
        self.code = status
        self.status = _STATUS[status] if 0 <= status < len(_STATUS) else str(status)
        self.message = message
        self.hint = hint
        super().__init__(message + ("\nhint: " + hint if hint else ""))


def _check(status):
    if status:
        raise Error(status, _s(_C["last_error"]()) or _s(_C["status_str"](status)), _s(_C["last_hint"]()))


def version():
    """The library's version, "MAJOR.MINOR.PATCH"."""
    return _s(_C["version"]())


# ---- devices and contexts ----


def _device_dict(d):
    return {"index": d.index, "name": _s(d.name), "type": _s(d.type),
            "api_version": "%d.%d.%d" % (d.api_version >> 22, (d.api_version >> 12) & 0x3FF,
                                         d.api_version & 0xFFF),
            "vendor_id": d.vendor_id, "device_id": d.device_id, "subgroup_size": d.subgroup_size,
            "shared_memory": d.shared_memory, "device_memory": d.device_memory, "fp16": bool(d.fp16),
            "int8": bool(d.int8), "coopmat": bool(d.coopmat), "timestamps": bool(d.timestamps)}


def devices():
    """The Vulkan devices (no context needed), as a list of dicts."""
    infos = (_DeviceInfo * 16)()
    count = _int(0)
    _check(_C["enumerate_devices"](infos, 16, ctypes.byref(count)))
    return [_device_dict(infos[i]) for i in range(min(count.value, 16))]


class Context:
    """A Vulkan device opened for work. device: an index or part of a name (None: $VKGEN_DEVICE, else
    the best device); validate: True/False, None for $VKGEN_VALIDATE."""

    def __init__(self, device=None, validate=None, pipeline_cache=None):
        desc = _C["ctx_desc_default"]()
        if device is not None:
            desc.device = _b(str(device))
        if validate is not None:
            desc.validate = 1 if validate else 0
        if pipeline_cache is not None:
            desc.pipeline_cache = _b(pipeline_cache)
        self._h = _vp()
        self._graphs = []
        _check(_C["ctx_create"](ctypes.byref(desc), ctypes.byref(self._h)))

    @property
    def device(self):
        return _device_dict(_C["ctx_device"](self._handle()).contents)

    @property
    def validation_enabled(self):
        return bool(_C["ctx_validation_enabled"](self._handle()))

    def validation_messages(self):
        """Validation-layer messages seen so far (0 when validation is off)."""
        return _C["ctx_validation_messages"](self._handle())

    def graph(self):
        g = Graph(self)
        self._graphs.append(g)
        return g

    def _handle(self):
        if not self._h:
            raise Error(6, "vkgen: the context is closed")
        return self._h

    def close(self):
        """Destroys the context and its graphs (also done when it is garbage collected)."""
        if self._h:
            for g in self._graphs:
                g.close()
            self._graphs = []
            _C["ctx_destroy"](self._h)
            self._h = _vp()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # at interpreter exit the module's globals may already be gone
            pass


# ---- graphs ----

_DTYPES = {"f32": 0, "f16": 1, "i32": 2}
_BINOPS = {"add": 0, "sub": 1, "mul": 2, "div": 3, "maximum": 4, "minimum": 5, "pow": 6}
_UNOPS = ["relu", "leaky_relu", "gelu", "gelu_tanh", "tanh", "sigmoid", "silu", "softplus", "exp", "log",
          "neg", "abs", "sqrt", "square", "affine"]
_NONE = -1


class Tensor:
    """A tensor of a graph (an id); arithmetic operators build ops in that graph."""

    def __init__(self, graph, tid):
        self.graph = graph
        self.id = tid

    @property
    def shape(self):
        g = self.graph._handle()
        return tuple(_C["dim"](g, self.id, i) for i in range(_C["ndim"](g, self.id)))

    @property
    def dtype(self):
        return {v: k for k, v in _DTYPES.items()}[_C["type"](self.graph._handle(), self.id)]

    def __add__(self, o):
        return self.graph.binary("add", self, o)

    def __sub__(self, o):
        return self.graph.binary("sub", self, o)

    def __mul__(self, o):
        return self.graph.binary("mul", self, o)

    def __truediv__(self, o):
        return self.graph.binary("div", self, o)

    def __matmul__(self, o):
        return self.graph.matmul(self, o)

    def __neg__(self):
        return self.graph.unary("neg", self)

    def __repr__(self):
        return "vkgen.Tensor(%d, shape=%s)" % (self.id, self.shape)


def _shape(shape):
    shape = tuple(int(d) for d in shape)
    return len(shape), (_int * max(len(shape), 1))(*shape)


class Graph:
    """Ops recorded once, compiled once, then run any number of times (see vkgen.h). Build errors
    (bad shapes) are reported by compile()."""

    def __init__(self, ctx):
        self.ctx = ctx
        self._h = _vp()
        _check(_C["graph_create"](ctx._handle(), ctypes.byref(self._h)))

    def _handle(self):
        if not self._h:
            raise Error(6, "vkgen: the graph is closed")
        return self._h

    def close(self):
        if self._h:
            _C["graph_destroy"](self._h)
            self._h = _vp()

    def _id(self, t):
        if t is None:
            return _NONE
        if isinstance(t, Tensor):
            if t.graph is not self:
                raise Error(6, "vkgen: a tensor of another graph")
            return t.id
        raise TypeError("expected a vkgen.Tensor, got %r" % (t,))

    def _t(self, tid):
        return Tensor(self, tid)

    # inputs and outputs
    def input(self, name, shape, dtype="f32"):
        """A tensor the host writes (write()) before runs."""
        n, dims = _shape(shape)
        return self._t(_C["input"](self._handle(), _b(name), _DTYPES[dtype], n, dims))

    def full(self, shape, value):
        n, dims = _shape(shape)
        return self._t(_C["full"](self._handle(), n, dims, float(value)))

    def random_normal(self, shape, mean=0.0, std=1.0, seed="seed"):
        """Normal random numbers; the seed is the u32 scalar named seed (set_u32), 0 by default."""
        n, dims = _shape(shape)
        slot = _C["scalar"](self._handle(), _b(seed))
        return self._t(_C["random_normal"](self._handle(), n, dims, slot, float(mean), float(std)))

    def output(self, t):
        """Keeps t after a run so that read() can fetch it; returns t."""
        _C["output"](self._handle(), self._id(t))
        return t

    def set_f32(self, name, value):
        _check(_C["set_f32"](self._handle(), _C["scalar"](self._handle(), _b(name)), float(value)))

    def set_u32(self, name, value):
        _check(_C["set_u32"](self._handle(), _C["scalar"](self._handle(), _b(name)), int(value)))

    # ops
    def matmul(self, a, b, bias=None, trans_a=False, trans_b=False):
        flags = (1 if trans_a else 0) | (2 if trans_b else 0)
        return self._t(_C["matmul"](self._handle(), self._id(a), self._id(b), self._id(bias), flags))

    def binary(self, op, a, b):
        return self._t(_C["binary"](self._handle(), _BINOPS[op], self._id(a), self._id(b)))

    def unary(self, op, x, alpha=0.0, beta=0.0):
        return self._t(_C["unary"](self._handle(), _UNOPS.index(op), self._id(x), float(alpha), float(beta)))

    def relu(self, x):
        return self.unary("relu", x)

    def gelu(self, x):
        return self.unary("gelu", x)

    def tanh(self, x):
        return self.unary("tanh", x)

    def sigmoid(self, x):
        return self.unary("sigmoid", x)

    def exp(self, x):
        return self.unary("exp", x)

    def softmax(self, x):
        return self._t(_C["softmax"](self._handle(), self._id(x)))

    def log_softmax(self, x):
        return self._t(_C["log_softmax"](self._handle(), self._id(x)))

    def layernorm(self, x, gamma=None, beta=None, eps=1e-5):
        return self._t(_C["layernorm"](self._handle(), self._id(x), self._id(gamma), self._id(beta), eps))

    def sum(self, x, axis, keepdim=False):
        return self._t(_C["reduce"](self._handle(), 0, self._id(x), axis, int(keepdim)))

    def mean(self, x, axis, keepdim=False):
        return self._t(_C["reduce"](self._handle(), 1, self._id(x), axis, int(keepdim)))

    def max(self, x, axis, keepdim=False):
        return self._t(_C["reduce"](self._handle(), 2, self._id(x), axis, int(keepdim)))

    def reshape(self, x, shape):
        n, dims = _shape(shape)
        return self._t(_C["reshape"](self._handle(), self._id(x), n, dims))

    def permute(self, x, perm):
        n, dims = _shape(perm)
        return self._t(_C["permute"](self._handle(), self._id(x), dims))

    # compile, run, data
    def compile(self):
        """Checks shapes, plans memory and records the graph; raises the first build error."""
        _check(_C["graph_status"](self._handle()))
        _check(_C["compile"](self._handle()))

    def run(self):
        _check(_C["run"](self._handle()))

    def write(self, t, array):
        """Host data into an input: any array of t's size (converted to float32, or int32 for i32)."""
        if t.dtype == "i32":
            a = np.ascontiguousarray(array, dtype=np.int32)
            _check(_C["write_i32"](self._handle(), self._id(t), a.ctypes.data_as(_i32p), a.size))
        else:
            a = np.ascontiguousarray(array, dtype=np.float32)
            _check(_C["write"](self._handle(), self._id(t), a.ctypes.data_as(_f32p), a.size))

    def read(self, t):
        """An output's values after a run, as an array of its shape (float32, or int32 for i32)."""
        shape = t.shape
        if t.dtype == "i32":
            a = np.empty(shape, dtype=np.int32)
            _check(_C["read_i32"](self._handle(), self._id(t), a.ctypes.data_as(_i32p), a.size))
        else:
            a = np.empty(shape, dtype=np.float32)
            _check(_C["read"](self._handle(), self._id(t), a.ctypes.data_as(_f32p), a.size))
        return a


# ---- model families ----


def families():
    """The model families, as a dict name -> one-line summary."""
    return {_s(_C["family_name"](i)): _s(_C["family_summary"](i)) for i in range(_C["family_count"]())}


def asset(name):
    """The path of a shipped file (e.g. "gan.safetensors") as vkgen finds it, or None."""
    buf = ctypes.create_string_buffer(4096)
    return _s(buf.value) if _C["asset_path"](_b(name), buf, len(buf)) else None


_SHORT = ("n", "o")  # the commands' one-letter options: -n N, -o FILE


def _argv(args, options):
    argv = [str(a) for a in args]
    for key, value in options.items():
        if value is None or value is False:
            continue
        flag = "-" + key if key in _SHORT else "--" + key.replace("_", "-")
        argv.append(flag)
        if value is not True:
            argv.append(str(value))
    return argv


def run(verb, family, *args, **options):
    """Runs 'vkgen VERB FAMILY ARGS... OPTIONS...' in this process and returns what it printed on
    stdout. Progress goes to stderr. Raises vkgen.Error with the command's error and hint."""
    argv = _argv(args, options)
    arr = (_c_char_p * max(len(argv), 1))(*[_b(a) for a in argv])
    out = _vp()
    status = _C["family_run"](_b(verb), _b(family), len(argv), arr, ctypes.byref(out))
    text = ctypes.string_at(out.value).decode("utf-8", "replace") if out.value else ""
    _libc_free(out)
    _check(status)
    return text


def _read_grid(path, size, channels):
    """The images of a PNG grid made by vkgen (tiles of size x size, 2-pixel gaps), row by row, as
    (tiles, channels, size, size) float32."""
    im = _Images()
    _check(_C["image_load"](_b(path), ctypes.byref(im)))
    try:
        pix = np.ctypeslib.as_array(im.pixels, shape=(im.c, im.h, im.w)).copy()
    finally:
        _C["images_free"](ctypes.byref(im))
    cols, rows = (pix.shape[2] - 2) // (size + 2), (pix.shape[1] - 2) // (size + 2)
    if cols * (size + 2) + 2 != pix.shape[2] or rows * (size + 2) + 2 != pix.shape[1]:
        raise Error(8, "'%s' (%dx%d) is not a grid of %dx%d images" % (path, pix.shape[2], pix.shape[1], size, size))
    tiles = [pix[:, 2 + r * (size + 2):2 + r * (size + 2) + size, 2 + c * (size + 2):2 + c * (size + 2) + size]
             for r in range(rows) for c in range(cols)]
    out = np.stack(tiles)
    return out[:, :1] if channels == 1 else out


class Model:
    """A family's weights file. load() and train() make one."""

    _IMAGE_FAMILIES = ("gan", "vae", "flow")  # sample writes a PNG grid; the other families print text

    def __init__(self, family, weights):
        self.family = family
        self.weights = weights
        self.metadata, self.config = {}, {}
        if os.path.isdir(weights):  # gpt: a Hugging Face GPT-2 directory, read by the command itself
            return
        st = _vp()
        _check(_C["st_open"](_b(weights), ctypes.byref(st)))
        try:
            for key in ("format", "model", "config"):
                v = _C["st_metadata"](st, _b(key))
                if v is not None:
                    self.metadata[key] = _s(v)
        finally:
            _C["st_close"](st)
        self.config = json.loads(self.metadata["config"]) if "config" in self.metadata else {}
        if self.metadata.get("model") not in (None, family):
            raise Error(6, "weights '%s' are a %s model, not %s" % (weights, self.metadata["model"], family),
                        "load them with vkgen.load('%s', ...)" % self.metadata["model"])

    def __repr__(self):
        return "vkgen.Model(%r, %r)" % (self.family, self.weights)

    def sample(self, n=None, seed=None, out=None, **options):
        """Samples with 'vkgen sample FAMILY'. Image families (gan, vae, flow) return a float32 array
        (images, channels, size, size) in [0, 1] (the PNG grid's pixels, so 8-bit steps; out=PATH
        keeps the PNG); with reconstruct or interpolate options, every tile of the grid in row order.
        Text families return the text (a list of texts with batch > 1). Other options as the command's."""
        opts = dict(options, n=n, seed=seed, weights=self.weights)
        if self.family not in self._IMAGE_FAMILIES:
            text = run("sample", self.family, **opts)
            batch = int(options.get("batch") or 1)
            if batch <= 1:
                return text[:-1] if text.endswith("\n") else text
            parts = re.split(r"(?m)^=== sample \d+ ===\n", text)[1:]
            return [p[:-1] if p.endswith("\n") else p for p in parts]
        plain = not any(options.get(k) for k in ("interpolate", "reconstruct"))
        if plain and n is not None and "cols" not in options:
            opts["cols"] = n  # one row: every tile is an image
        tmp = tempfile.mkdtemp(prefix="vkgen-")
        try:
            path = out or os.path.join(tmp, "samples.png")
            opts["o"] = path
            run("sample", self.family, **opts)
            images = _read_grid(path, int(self.config.get("size", 28)), int(self.config.get("channels", 1)))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return images[:n] if plain and n is not None else images

    def eval(self, **options):
        """The metrics of 'vkgen eval FAMILY --json', as a dict."""
        return json.loads(run("eval", self.family, json=True, weights=self.weights, **options))

    def bench(self, **options):
        """The timings of 'vkgen bench FAMILY --json', as a dict."""
        return json.loads(run("bench", self.family, json=True, weights=self.weights, **options))


def load(family, weights=None):
    """A model of a family: weights is a file (for gpt also a Hugging Face GPT-2 directory), the name
    of a shipped model ("emoji-gan"), or None for the family's shipped default weights."""
    if family not in families():
        raise Error(6, "unknown model family '%s'" % family, "families: " + ", ".join(families()))
    if weights is None or (os.sep not in weights and not os.path.exists(weights)):
        name = (weights or family) + ".safetensors"
        path = asset(name)
        if path is None:
            raise Error(3, "no shipped weights '%s' (looked in $VKGEN_ASSETS, the installed share/vkgen/assets "
                        "and the source tree)" % name, "train a model with vkgen.train('%s', out=DIR)" % family)
        weights = path
    return Model(family, weights)


def train(family, out, **options):
    """Trains with 'vkgen train FAMILY --out OUT OPTIONS...' (e.g. epochs=1, steps=100, limit=512) and
    returns the trained Model (OUT/FAMILY.safetensors)."""
    run("train", family, out=out, **options)
    return Model(family, os.path.join(out, family + ".safetensors"))
