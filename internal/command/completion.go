package command

import (
	"github.com/urfave/cli/v2"
)

// Completion scripts ask reconfig itself for the candidates, through
// urfave/cli's --generate-bash-completion.
const bashCompletion = `# bash completion for reconfig; install with
#   reconfig completion bash > /etc/bash_completion.d/reconfig
_reconfig_complete() {
	local cur="${COMP_WORDS[COMP_CWORD]}"
	local -a line=("${COMP_WORDS[@]:0:COMP_CWORD}")
	local candidates
	if [[ "$cur" == -* ]]; then
		candidates=$("${line[@]}" "$cur" --generate-bash-completion 2>/dev/null)
	else
		candidates=$("${line[@]}" --generate-bash-completion 2>/dev/null)
	fi
	COMPREPLY=($(compgen -W "$candidates" -- "$cur"))
}
complete -o default -F _reconfig_complete reconfig
`

const zshCompletion = `#compdef reconfig
# zsh completion for reconfig; install with
#   reconfig completion zsh > "${fpath[1]}/_reconfig"
_reconfig() {
	local cur=${words[CURRENT]}
	local -a line candidates
	line=(${words[1,CURRENT-1]})
	if [[ $cur == -* ]]; then
		candidates=(${(f)"$(${line[@]} $cur --generate-bash-completion 2>/dev/null)"})
	else
		candidates=(${(f)"$(${line[@]} --generate-bash-completion 2>/dev/null)"})
	fi
	compadd -a candidates
}
compdef _reconfig reconfig
`

func completionCommand(env *runEnv) *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script (bash or zsh)",
		UsageText: "reconfig completion bash|zsh\n\nExample:\n   source <(reconfig completion bash)",
		Action: func(c *cli.Context) error {
			switch c.Args().First() {
			case "bash":
				env.view().Document(bashCompletion)
			case "zsh":
				env.view().Document(zshCompletion)
			default:
				return &usageError{msg: "completion takes bash or zsh", cmd: "completion"}
			}
			return nil
		},
	}
}

// manCommand prints the man page made from the command definitions (make man).
func manCommand(env *runEnv) *cli.Command {
	return &cli.Command{
		Name:   "man",
		Usage:  "print the man page (roff)",
		Hidden: true,
		Action: func(c *cli.Context) error {
			page, err := c.App.ToMan()
			if err != nil {
				return err
			}
			env.view().Document(page)
			return nil
		},
	}
}
