"""Test-wide settings: notebooks and tests run at smoke scale unless COURSE_SCALE says otherwise.

The settings go into the environment, so the Jupyter kernels that nbval starts inherit them.
"""

import os
import tempfile

os.environ.setdefault("COURSE_SCALE", "smoke")
os.environ.setdefault("MPLBACKEND", "Agg")
# Two notebooks run side by side on a 2-core machine: one thread each avoids oversubscription.
os.environ.setdefault("OMP_NUM_THREADS", "1")
# Models cached by one notebook for another go to a throwaway folder during tests.
os.environ.setdefault("COURSE_CACHE_DIR", tempfile.mkdtemp(prefix="course-cache-"))
