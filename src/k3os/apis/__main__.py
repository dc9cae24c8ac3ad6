"""`python -m k3os.apis [DIR]`: regenerate the shipped CRD files from the models."""

import sys
from pathlib import Path

from k3os.apis.crds import CRD_DIR, write_crd_files

for written in write_crd_files(Path(sys.argv[1]) if len(sys.argv) > 1 else CRD_DIR):
    print(written)
