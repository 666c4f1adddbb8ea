"""A tiny web app: serves its static files and a greeting from its config."""
import configparser
import functools
import http.server
import sys

config = configparser.ConfigParser()
config.read('/etc/hello.ini')
app = config['app']


class Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        if self.path == '/greeting':
            body = (app['greeting'] + '\n').encode()
            self.send_response(200)
            self.send_header('Content-Type', 'text/plain')
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()


if __name__ == '__main__':
    if sys.argv[1:] == ['--greeting']:
        print(app['greeting'])
        sys.exit(0)
    handler = functools.partial(Handler, directory=app['static'])
    http.server.ThreadingHTTPServer(('', int(app['port'])), handler).serve_forever()
