import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import torch

# The tests use small tensors, for which one intra-op thread is faster than several (and steadier
# on a shared machine).
torch.set_num_threads(1)
