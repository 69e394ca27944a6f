# puma on the sockets sdlaunch (or systemd) passes:
#
#   sdlaunch run -w 4 -l :8000 -- puma -C puma.rb config.ru
#
# "only": without it every worker also binds puma's default
# tcp://0.0.0.0:9292.
bind_to_activated_sockets "only"

# Every connection puma accepts goes straight to a thread, which reads the
# request and answers it; a graceful stop (SIGTERM) waits for the threads.
# With puma's default (true), a connection accepted just before the stop
# signal, whose request had not been read yet, waits in puma's reactor and
# is closed unanswered when puma stops: measured under sdlaunch, 1 or 2
# requests cut in 3 of 8 reloads under load, none in 8 with this. The
# cost: a slow client holds a thread while it sends its request.
queue_requests false
