"""Neural models of the workbench (autoencoders and their relatives)."""
