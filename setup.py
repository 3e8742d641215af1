"""Which packages the wheel carries, found rather than listed (a list kept by hand once left
engine.documents out): every package under engine/ and gui/, and resources/ as the package
``prosemix_resources``, whose files ship as package data (engine.paths.resources_dir finds
them through importlib.resources). Everything else is in pyproject.toml."""
from setuptools import find_packages, setup

setup(packages=find_packages(include=["engine", "engine.*", "gui", "gui.*"]) + ["prosemix_resources"],
      package_dir={"prosemix_resources": "resources"})
