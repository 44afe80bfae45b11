"""An emulated WezTerm mux server (and, alongside, an emulated GUI client).

No wezterm binary is available where muxscope is developed and tested, so the
proxy is exercised against this emulation instead. It reproduces what matters
for fetch traffic, from WezTerm's own source (docs/wezterm-behaviour.md lists
each behaviour with its file and line, and every deviation).

The server side:

* :mod:`.termlines`: termwiz ``Line`` and cell values, and how they are serialized;
* :mod:`.terminal`: a pane's screen with wezterm-term's seqno bookkeeping and its
  resize/rewrap algorithm; :mod:`.content`: the shell-like text it is fed;
* :mod:`.muxmodel`: the mux's windows, tabs and panes;
* :mod:`.session`: ``wezterm-mux-server``'s session handler, one per connection;
  :mod:`.servertabs`: tabs with splits (ListPanes trees, Resize, zoom, SplitPane), sized by
  :mod:`.splittree` as ``mux/src/tab.rs`` sizes them;
* :mod:`.server`: the mux, its listeners and each connection's read loop;
  :mod:`.server_cli`: the ``emulate server`` sub-command.

The client side:

* :mod:`.client`: wezterm-client's connection, attach, resync and fetches, with
  :mod:`.clientpushes` (pushes), :mod:`.clientgui` (the GUI window) and :mod:`.clienttabs`
  (the GUI's own copy of each tab: listings, divider drags, zoom) as mixins;
* :mod:`.clientpane`, :mod:`.linecache`, :mod:`.panefetch`, :mod:`.policy`: one
  remote pane's fetch state machine and what it shares with the client;
* :mod:`.clientoptions`, :mod:`.clientreport`, :mod:`.client_cli`: the
  ``emulate client`` sub-command's options, report and command.
"""
