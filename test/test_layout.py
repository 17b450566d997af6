# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The package's layering: the nodes and their rclpy glue import no training, data or tool code."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / 'splitee_ros'
FORBIDDEN = ('splitee_ros.train', 'splitee_ros.data', 'splitee_ros.tools', 'splitee_ros.cli')


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports, at the top or inside functions."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names |= {node.module} | {f'{node.module}.{alias.name}' for alias in node.names}
    return names


@pytest.mark.parametrize('path', sorted([*PACKAGE.glob('ros/*.py'), *PACKAGE.glob('nodes/*.py')]), ids=lambda p: p.name)
def test_nodes_and_their_glue_import_no_training_data_or_tools(path):
    forbidden = sorted(m for m in imported_modules(path) if m.startswith(FORBIDDEN))
    assert forbidden == [], f'{path.relative_to(PACKAGE.parent)} imports {forbidden}'
