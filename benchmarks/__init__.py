"""Prosemix's benchmarks: one package, run the same way each.

    python -m benchmarks              # lists them
    python -m benchmarks NAME [ARGS]  # e.g. python -m benchmarks engine --only llama
    make bench NAME=engine ARGS="--only llama"

Each prints the machine it ran on and ratios against a named baseline measured in the same run;
`benchmarks.harness` holds what they share. Which decision each backs: docs/dev/decisions/.
"""
