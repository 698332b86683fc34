"""Constants shared by the privileged network tests."""
import os
import sys

NSRUN = os.path.join(os.path.dirname(sys.executable), "nsrun")
