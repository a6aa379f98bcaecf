"""Networks: our from-scratch layers, the assignment network built two ways, the tuned network."""
