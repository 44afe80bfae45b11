"""One relay side per transport that is not a plain socket (exec, stdio, ...)."""
