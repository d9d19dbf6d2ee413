"""`python -m corpus_demo --out DIR [--pages N] [--files K] [--seed S]`: see corpus_demo.cli."""
import sys

from corpus_demo.cli import main

sys.exit(main())
