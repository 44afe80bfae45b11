"""An emulated WezTerm mux server (and, alongside, an emulated GUI client).

No wezterm binary is available where muxscope is developed and tested, so the
proxy is exercised against this emulation instead. It reproduces what matters
for fetch traffic, from WezTerm's own source (docs/wezterm-behaviour.md lists
each behaviour with its file and line, and every deviation):

* :mod:`.terminal`: a pane's screen as termwiz ``Line`` values, with
  wezterm-term's seqno bookkeeping and its resize/rewrap algorithm;
* :mod:`.server`: ``wezterm-mux-server``'s session handler over the real codec;
* :mod:`.server_cli`: the ``emulate server`` sub-command.
"""
