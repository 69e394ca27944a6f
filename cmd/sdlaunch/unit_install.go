package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/sdlaunch/sdlaunch/units"
	"github.com/urfave/cli/v2"
)

// renderFromFlags builds the app from the flags and renders its units;
// every error is bad input (exit 2), and nothing has been written.
func renderFromFlags(c *cli.Context, systemdVersion int) (*units.App, []units.File, error) {
	app, err := appFromFlags(c, systemdVersion)
	if err != nil {
		return nil, nil, err
	}
	files, err := app.Render()
	if err != nil {
		return nil, nil, usageErrorf("%v", err)
	}
	return app, files, nil
}

func generateAction(c *cli.Context) error {
	version := units.FallbackSystemdVersion
	if !c.IsSet(flagSystemdVersion) {
		if v := detectVersion(c.Context, c.Bool(flagUserManager)); v > 0 {
			version = v
		}
	}
	_, files, err := renderFromFlags(c, version)
	if err != nil {
		return err
	}
	dir := c.String(flagOutput)
	if dir == "" {
		for _, f := range files {
			fmt.Fprintf(c.App.Writer, "### %s\n%s", f.Name, f.Content)
		}
		return nil
	}
	if _, err := units.WriteFiles(dir, files); err != nil {
		return &exitError{code: exitUnexpected, msg: err.Error()}
	}
	for _, f := range files {
		fmt.Fprintln(c.App.Writer, filepath.Join(dir, f.Name))
	}
	return nil
}

func installAction(c *cli.Context) error {
	user := c.Bool(flagUserManager)
	// Validate everything before touching systemd: bad input exits 2 with
	// nothing written, with or without a service manager.
	if _, err := appFromFlags(c, units.FallbackSystemdVersion); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.Context, opTimeout())
	defer cancel()
	m, connErr := units.Connect(ctx, user)
	if connErr != nil && !c.Bool(flagDryRun) {
		return &exitError{code: exitUnexpected, msg: connErr.Error()}
	}
	var err error
	version, dir := units.FallbackSystemdVersion, units.SystemUnitDir
	if m != nil {
		defer m.Close()
		dir = m.UnitDir()
		if !c.IsSet(flagSystemdVersion) {
			if v, err := m.Version(ctx); err == nil {
				version = v
			}
		}
	} else if user {
		if dir, err = units.UserUnitDir(); err != nil {
			return &exitError{code: exitUnexpected, msg: err.Error()}
		}
	}
	app, files, err := renderFromFlags(c, version)
	if err != nil {
		return err
	}
	if c.Bool(flagDryRun) {
		plan, err := units.Plan(dir, files, app.Name)
		if err != nil {
			return &exitError{code: exitUnexpected, msg: err.Error()}
		}
		if m == nil {
			fmt.Fprintf(c.App.Writer, "(no service manager reachable: %v)\n", connErr)
		}
		fmt.Fprintf(c.App.Writer, "dry run, systemd %d; would:\n%s", version, plan)
		return nil
	}
	if !user {
		// ExecStopPost=+ runs it as root (units/afterexit.go)
		if err := units.CheckRootOwned(app.SdlaunchPath); err != nil {
			return usageErrorf("%v", err)
		}
	}
	start := time.Now()
	if err := m.Install(ctx, app.Name, files, c.App.Writer); err != nil {
		return opError(err)
	}
	fmt.Fprintf(c.App.Writer, "installed %s in %s\n", app.Name, time.Since(start).Round(time.Millisecond))
	return nil
}
