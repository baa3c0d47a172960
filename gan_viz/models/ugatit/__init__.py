"""U-GAT-IT (Kim et al., ICLR 2020): a male <-> female translator whose CAM attention steers what it changes."""
