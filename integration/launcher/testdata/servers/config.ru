# A Rack app for puma: every answer names the process that served it and
# its sdlaunch generation.
run lambda { |env|
  body = "hello from pid #{Process.pid} generation #{ENV.fetch('SDLAUNCH_GENERATION', '?')}\n"
  [200, { "Content-Type" => "text/plain", "Content-Length" => body.bytesize.to_s }, [body]]
}
