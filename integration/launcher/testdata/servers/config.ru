# A Rack app for puma: every answer names the process that served it and
# its sdlaunch generation; /slow?ms=N sleeps.
run lambda { |env|
  if env["PATH_INFO"] == "/slow"
    ms = Rack::Utils.parse_query(env["QUERY_STRING"]).fetch("ms", "0").to_i
    sleep(ms / 1000.0)
    body = "slept #{ms} ms, pid #{Process.pid}\n"
  else
    body = "hello from pid #{Process.pid} generation #{ENV.fetch('SDLAUNCH_GENERATION', '?')}\n"
  end
  [200, { "Content-Type" => "text/plain", "Content-Length" => body.bytesize.to_s }, [body]]
}
