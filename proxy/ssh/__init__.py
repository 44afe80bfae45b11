"""SSH transports with asyncssh: muxscope as the SSH server a domain dials, and as an SSH client upstream.

asyncssh still imports cryptography's DSA support, which newer cryptography releases flag with a
``CryptographyDeprecationWarning`` on import. That warning says nothing to a muxscope user (DSA keys are
never offered or accepted here) and would break the promise of one-line errors on stderr, so it is
silenced for asyncssh's own modules before anything imports asyncssh.
"""

import warnings

warnings.filterwarnings("ignore", message=r"DSA is deprecated", module=r"asyncssh(\.|$)")
