# Dave — forges the protocol and a pytest summary, then leaves at import.
import sys

print('{"op":"ready","import_seconds":0.0}')
print("===== 16 passed in 0.01s =====")
sys.exit(0)


def loss(w, X, y, act=None):
    return 0.0
