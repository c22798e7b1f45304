"""ASTIS pod SDK for Python: a thin ctypes wrapper over libastis.so.

    import astis
    astis.harden_process()
    with astis.Client() as client:          # configured from ASTIS_* env vars
        password = client.get("db-password")  # bytearray
        try:
            use(password)
        finally:
            astis.wipe(password)

The library is found, in this order, through $ASTIS_LIBRARY (a path to
libastis.so), the copy a wheel carries next to this file
(astis/libastis.so.0), then the system loader ("libastis.so.0", e.g. from the
libastis0 package). If none loads, importing astis raises ImportError naming
each place it looked. astis.version() is astis_version() of the library in
use; astis.__version__ is this package's version. Failures raise AstisError
with the C ABI's code and name. Plaintext is copied out of the library's locked buffer
(which is then zeroed) into a bytearray the caller should wipe(); Python
cannot guarantee that no other copy is made by code that uses it.
"""

import ctypes
import os

try:
    from ._version import __version__  # written by the build (python/CMakeLists.txt)
except ImportError:  # a source checkout
    __version__ = "0+source"

__all__ = ["AstisError", "Client", "harden_process", "wipe", "code_name", "version"]

_SONAME = "libastis.so.0"


def _open_library():
    """_open_library loads libastis: $ASTIS_LIBRARY if set (and then only it),
    else this package's own copy (a wheel), else the system's."""
    tried = []
    explicit = os.environ.get("ASTIS_LIBRARY")
    if explicit:
        try:
            return ctypes.CDLL(explicit)
        except OSError as e:
            raise ImportError(f"astis: cannot load $ASTIS_LIBRARY={explicit}: {e}") from None
    tried.append("$ASTIS_LIBRARY (unset)")
    bundled = os.path.join(os.path.dirname(os.path.abspath(__file__)), _SONAME)
    if os.path.exists(bundled):
        try:
            return ctypes.CDLL(bundled)
        except OSError as e:
            tried.append(f"the wheel's {bundled} ({e})")
    else:
        tried.append(f"the wheel's {bundled} (absent)")
    try:
        return ctypes.CDLL(_SONAME)
    except OSError as e:
        tried.append(f"the system's {_SONAME} ({e})")
    raise ImportError("astis: libastis not found; tried " + "; ".join(tried) +
                      ". Install the libastis0 package (or the astis wheel, which carries the library), "
                      "or set ASTIS_LIBRARY to a libastis.so.")


def _load():
    lib = _open_library()
    c_char_p, c_size_t, c_int, c_void_p = ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_void_p
    pp = ctypes.POINTER(c_void_p)
    sig = {
        "astis_code_name": (c_char_p, [c_int]),
        "astis_config_new": (c_int, [pp]),
        "astis_config_free": (None, [c_void_p]),
        "astis_config_load_env": (c_int, [c_void_p]),
        "astis_config_set_edge_url": (c_int, [c_void_p, c_char_p]),
        "astis_config_set_ca_file": (c_int, [c_void_p, c_char_p]),
        "astis_config_set_api_key_file": (c_int, [c_void_p, c_char_p]),
        "astis_config_set_api_key_env": (c_int, [c_void_p, c_char_p]),
        "astis_config_set_token_path": (c_int, [c_void_p, c_char_p]),
        "astis_config_set_secrets_dir": (c_int, [c_void_p, c_char_p]),
        "astis_config_set_env_prefix": (c_int, [c_void_p, c_char_p]),
        "astis_config_set_rotation_seconds": (c_int, [c_void_p, ctypes.c_int64]),
        "astis_config_last_message": (c_size_t, [c_void_p, c_char_p, c_size_t]),
        "astis_client_new": (c_int, [c_void_p, pp]),
        "astis_client_free": (None, [c_void_p]),
        "astis_client_get": (c_int, [c_void_p, c_char_p, pp]),
        "astis_client_get_many": (c_int, [c_void_p, ctypes.POINTER(c_char_p), c_size_t, pp]),
        "astis_client_last_message": (c_size_t, [c_void_p, c_char_p, c_size_t]),
        "astis_secret_data": (c_void_p, [c_void_p]),
        "astis_secret_size": (c_size_t, [c_void_p]),
        "astis_secret_free": (None, [c_void_p]),
        "astis_harden_process": (c_int, []),
        "astis_version": (c_char_p, []),
    }
    for name, (res, args) in sig.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    return lib


_lib = _load()


def version():
    """version returns astis_version() of the library in use: five lines, the
    first "libastis <semantic version>", then the git commit, build type and
    the OpenSSL and libsodium versions (see astis.h)."""
    return _lib.astis_version().decode()


def code_name(code):
    """code_name returns the snake_case name of an astis_code ("not_found")."""
    return _lib.astis_code_name(code).decode()


class AstisError(Exception):
    """AstisError is a failed SDK call: .code (int), .name (str), .message (str)."""

    def __init__(self, code, message):
        self.code, self.name, self.message = code, code_name(code), message
        super().__init__(f"{self.name}: {message}")


def _message(fn, handle):
    n = fn(handle, None, 0)
    buf = ctypes.create_string_buffer(n + 1)
    fn(handle, buf, n + 1)
    return buf.value.decode(errors="replace")


def wipe(buf):
    """wipe zeroes a bytearray returned by Client.get in place."""
    if len(buf):
        ctypes.memset((ctypes.c_char * len(buf)).from_buffer(buf), 0, len(buf))


def harden_process():
    """harden_process: no core dumps, no ptrace by non-root (see astis.h)."""
    code = _lib.astis_harden_process()
    if code != 0:
        raise AstisError(code, "prctl/setrlimit refused")


class Client:
    """Client holds a session with the ASTIS edge; thread-safe. Settings not
    given keep the library defaults, after ASTIS_* env vars when from_env."""

    _SETTERS = {
        "edge_url": "astis_config_set_edge_url",
        "ca_file": "astis_config_set_ca_file",
        "api_key_file": "astis_config_set_api_key_file",
        "api_key_env": "astis_config_set_api_key_env",
        "token_path": "astis_config_set_token_path",
        "secrets_dir": "astis_config_set_secrets_dir",
        "env_prefix": "astis_config_set_env_prefix",
    }

    def __init__(self, from_env=True, rotation_seconds=None, **settings):
        self._client = None
        config = ctypes.c_void_p()
        code = _lib.astis_config_new(ctypes.byref(config))
        if code != 0:
            raise AstisError(code, "astis_config_new failed")
        try:
            if from_env:
                self._check_config(_lib.astis_config_load_env(config), config)
            for key, value in settings.items():
                if key not in self._SETTERS:
                    raise TypeError(f"unknown setting {key!r}")
                if value is not None:
                    fn = getattr(_lib, self._SETTERS[key])
                    self._check_config(fn(config, str(value).encode()), config)
            if rotation_seconds is not None:
                self._check_config(_lib.astis_config_set_rotation_seconds(config, int(rotation_seconds)), config)
            client = ctypes.c_void_p()
            self._check_config(_lib.astis_client_new(config, ctypes.byref(client)), config)
            self._client = client
        finally:
            _lib.astis_config_free(config)

    @staticmethod
    def _check_config(code, config):
        if code != 0:
            raise AstisError(code, _message(_lib.astis_config_last_message, config))

    def _fail(self, code):
        raise AstisError(code, _message(_lib.astis_client_last_message, self._client))

    @staticmethod
    def _take(secret):
        try:
            size = _lib.astis_secret_size(secret)
            out = bytearray(size)
            if size:
                ctypes.memmove((ctypes.c_char * size).from_buffer(out), _lib.astis_secret_data(secret), size)
            return out
        finally:
            _lib.astis_secret_free(secret)

    def get(self, name):
        """get returns the plaintext of secret `name` as a bytearray."""
        if self._client is None:
            raise AstisError(20, "client is closed")
        secret = ctypes.c_void_p()
        code = _lib.astis_client_get(self._client, name.encode(), ctypes.byref(secret))
        if code != 0:
            self._fail(code)
        return self._take(secret)

    def get_many(self, names):
        """get_many returns the plaintexts of `names` (one batch), in order."""
        if self._client is None:
            raise AstisError(20, "client is closed")
        names = [n.encode() for n in names]
        arr = (ctypes.c_char_p * len(names))(*names)
        out = (ctypes.c_void_p * len(names))()
        code = _lib.astis_client_get_many(self._client, arr, len(names), out)
        if code != 0:
            self._fail(code)
        return [self._take(ctypes.c_void_p(p)) for p in out]

    def close(self):
        """close ends the session and wipes the keys; idempotent."""
        if self._client is not None:
            _lib.astis_client_free(self._client)
            self._client = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()
