"""Tests of the ctypes wrapper over libastis.so (no edge needed: these are
the local paths). Run: ASTIS_LIBRARY=/path/to/libastis.so python3 -m unittest
discover -s python/tests"""

import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import astis  # noqa: E402


PYTHON_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def _import_in_child(env):
    """Imports astis (this source tree's, which carries no libastis) in a child
    Python with env as its whole environment; returns (exit code, stderr)."""
    env = dict(env, PYTHONPATH=PYTHON_DIR, PYTHONDONTWRITEBYTECODE="1")
    r = subprocess.run([sys.executable, "-c", "import astis"], env=env, capture_output=True, text=True)
    return r.returncode, r.stderr


class LibraryNotFoundTest(unittest.TestCase):
    """Refusals of `import astis` when no libastis can be loaded."""

    def test_missing_library_names_every_place_tried(self):
        # (In a child: this process has already loaded $ASTIS_LIBRARY.)
        probe = subprocess.run([sys.executable, "-c", "import ctypes; ctypes.CDLL('libastis.so.0')"], env={},
                               capture_output=True)
        if probe.returncode == 0:
            self.skipTest("this machine has a system libastis.so.0")
        code, err = _import_in_child({})
        self.assertNotEqual(code, 0)
        self.assertIn("ImportError: astis: libastis not found", err)
        self.assertIn("$ASTIS_LIBRARY (unset)", err)
        self.assertIn("the wheel's ", err)
        self.assertIn("the system's libastis.so.0", err)
        self.assertIn("libastis0", err)

    def test_bad_astis_library_is_named(self):
        code, err = _import_in_child({"ASTIS_LIBRARY": "/nonexistent/libastis.so"})
        self.assertNotEqual(code, 0)
        self.assertIn("ImportError: astis: cannot load $ASTIS_LIBRARY=/nonexistent/libastis.so", err)


class AstisWrapperTest(unittest.TestCase):
    def test_version_is_the_library_block(self):
        text = astis.version()
        self.assertRegex(text, r"^libastis \d+\.\d+\.\d+\ncommit .+\nbuild type .+\nOpenSSL .+\nlibsodium .+\n$")

    def test_code_names_follow_the_c_abi(self):
        self.assertEqual(astis.code_name(7), "session_invalid")
        self.assertEqual(astis.code_name(23), "not_found")
        self.assertEqual(astis.code_name(999), "unknown")

    def test_refuses_plain_http_edge(self):
        with self.assertRaises(astis.AstisError) as cm:
            astis.Client(from_env=False, edge_url="http://edge.example")
        self.assertEqual(cm.exception.name, "config")
        self.assertIn("https", cm.exception.message)

    def test_requires_an_edge_url(self):
        with self.assertRaises(astis.AstisError) as cm:
            astis.Client(from_env=False)
        self.assertEqual(cm.exception.name, "config")

    def test_missing_secret_is_not_found(self):
        with tempfile.TemporaryDirectory() as d:
            with astis.Client(from_env=False, edge_url="https://127.0.0.1:1", secrets_dir=d,
                              env_prefix="ASTIS_PYTEST_") as client:
                with self.assertRaises(astis.AstisError) as cm:
                    client.get("absent")
                self.assertEqual(cm.exception.name, "not_found")
                with self.assertRaises(astis.AstisError) as cm:
                    client.get_many(["../escape", "absent"])
                self.assertEqual(cm.exception.name, "invalid_argument")

    def test_wipe_zeroes_in_place(self):
        b = bytearray(b"secret")
        astis.wipe(b)
        self.assertEqual(b, bytearray(6))


if __name__ == "__main__":
    unittest.main()
