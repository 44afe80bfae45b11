"""``muxscope completion bash|zsh|fish``: shell completion scripts, generated from the argument parser.

Static scripts, walked out of the same ``argparse`` tree the command line
uses, so they cannot drift from it: sub-commands at every level, each
command's options, the values of options with fixed choices, and file names
everywhere else. No library does this for all three shells without a new
dependency (shtab has no fish; argcomplete runs the program on every Tab),
and the tree is small. zsh loads the bash function through ``bashcompinit``.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

SHELLS = ("bash", "zsh", "fish")


@dataclass
class Node:
    """One command (``""``, ``"capture"``, ``"capture scrub"``): what may follow it."""

    path: str
    help: str = ""
    options: dict[str, str] = field(default_factory=dict)  # long option -> help
    choices: dict[str, list[str]] = field(default_factory=dict)  # option taking one of fixed values
    valued: set[str] = field(default_factory=set)  # options that take a value
    children: dict[str, Node] = field(default_factory=dict)
    words: list[str] = field(default_factory=list)  # fixed values of a positional argument (completion's shell)

    @property
    def next_words(self) -> list[str]:
        """What a word that is not an option may be; empty: a file name."""
        return [*self.children, *self.words]


def walk(parser: argparse.ArgumentParser, path: str = "", help_text: str = "") -> Node:
    node = Node(path, help_text)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, sub in action.choices.items():
                node.children[name] = walk(sub, f"{path} {name}".strip(), helps.get(name, ""))
            continue
        if not action.option_strings and action.choices:
            node.words += [str(c) for c in action.choices]
        longs = [o for o in action.option_strings if o.startswith("--")]
        for opt in longs:
            node.options[opt] = (action.help or "").replace("%%", "%")
            if action.nargs != 0:
                node.valued.add(opt)
                if action.choices:
                    node.choices[opt] = [str(c) for c in action.choices]
    return node


def nodes(root: Node) -> list[Node]:
    out = [root]
    for child in root.children.values():
        out += nodes(child)
    return out


def bash(root: Node) -> str:
    steps = " | ".join(f'"{n.path}|{name}"' for n in nodes(root) for name in n.children)
    values = []
    for n in nodes(root):
        for opt in sorted(n.valued):
            words = " ".join(n.choices.get(opt, []))
            action = f'compgen -W "{words}" -- "$cur"' if words else 'compgen -f -- "$cur"'
            values.append(f'        "{n.path}|{opt}") COMPREPLY=($({action})); return ;;')
    commands = []
    for n in nodes(root):
        words = " ".join([*sorted(n.options), *n.next_words])
        rest = f'compgen -W "{" ".join(n.next_words)}" -- "$cur"' if n.next_words else 'compgen -f -- "$cur"'
        commands.append(f'        "{n.path}") if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "{words}" -- "$cur")); '
                        f"else COMPREPLY=($({rest})); fi ;;")
    return "\n".join([
        "# muxscope completion for bash: eval \"$(muxscope completion bash)\" (e.g. in ~/.bashrc)",
        "_muxscope() {",
        '    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}" path="" i',
        "    for ((i = 1; i < COMP_CWORD; i++)); do",
        '        case "$path|${COMP_WORDS[i]}" in',
        f'            {steps}) path="${{path:+$path }}${{COMP_WORDS[i]}}" ;;',
        "        esac",
        "    done",
        '    case "$path|$prev" in',
        *values,
        "    esac",
        '    case "$path" in',
        *commands,
        "    esac",
        "}",
        "complete -o filenames -F _muxscope muxscope",
        "",
    ])


def zsh(root: Node) -> str:
    return "\n".join([
        "# muxscope completion for zsh: eval \"$(muxscope completion zsh)\" (e.g. in ~/.zshrc, after compinit)",
        "autoload -U +X bashcompinit && bashcompinit",
        bash(root).split("\n", 1)[1],
    ])


def _fish_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _fish_condition(n: Node) -> str:
    """True while the words typed so far lead to ``n`` and no deeper command was named."""
    if not n.path:
        return "__fish_use_subcommand"
    parts = [f"__fish_seen_subcommand_from {word}" for word in n.path.split()]
    if n.children:
        parts.append(f"not __fish_seen_subcommand_from {' '.join(n.children)}")
    return "; and ".join(parts)


def fish(root: Node) -> str:
    lines = ["# muxscope completion for fish: muxscope completion fish > ~/.config/fish/completions/muxscope.fish",
             "complete -c muxscope -e"]
    for n in nodes(root):
        cond = _fish_quote(_fish_condition(n))
        for name, child in n.children.items():
            lines.append(f"complete -c muxscope -f -n {cond} -a {name} -d {_fish_quote(child.help)}")
        if n.words:
            lines.append(f"complete -c muxscope -f -n {cond} -a {_fish_quote(' '.join(n.words))}")
        for opt, text in sorted(n.options.items()):
            spec = f"-l {opt[2:]}"
            if opt in n.choices:
                spec += f" -x -a {_fish_quote(' '.join(n.choices[opt]))}"
            elif opt in n.valued:
                spec += " -r -F"
            lines.append(f"complete -c muxscope -n {cond} {spec} -d {_fish_quote(text.split('. ')[0][:80])}")
    return "\n".join(lines) + "\n"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "completion",
        help="print a shell completion script (bash, zsh, fish)",
        description="Print a completion script for your shell: sub-commands, options, option values and files.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="install:\n"
        "  bash  echo 'eval \"$(muxscope completion bash)\"' >> ~/.bashrc\n"
        "  zsh   echo 'eval \"$(muxscope completion zsh)\"' >> ~/.zshrc      (after compinit)\n"
        "  fish  muxscope completion fish > ~/.config/fish/completions/muxscope.fish\n",
    )
    p.add_argument("shell", choices=SHELLS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    root = walk(args.root_parser)  # the whole command line, which main.build_parser hands every command
    print({"bash": bash, "zsh": zsh, "fish": fish}[args.shell](root), end="")
    return 0
