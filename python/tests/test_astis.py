"""Tests of the ctypes wrapper over libastis.so (no edge needed: these are
the local paths). Run: ASTIS_LIBRARY=/path/to/libastis.so python3 -m unittest
discover -s python/tests"""

import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import astis  # noqa: E402


class AstisWrapperTest(unittest.TestCase):
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
