"""House-rule tests: layers, file and function sizes, import cycles, documents that stay true."""
