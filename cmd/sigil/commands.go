package main

import "github.com/urfave/cli/v2"

// commands lists the top-level commands. Each lives in its own file.
func commands() []*cli.Command {
	return []*cli.Command{
		keygenCommand(),
		signCommand(),
		releaseCommand(),
		keyCommand(),
		verifyCommand(),
		caCommand(),
		serveCommand(),
		tokenCommand(),
		logCommand(),
		cacheCommand(),
	}
}
