import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import pytest
import torch

# The tests use small tensors, for which one intra-op thread is faster than several (and steadier
# on a shared machine).
torch.set_num_threads(1)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request) -> str:
    """Every device this machine has: the tests that take it run on CUDA too where it is available."""
    return request.param
