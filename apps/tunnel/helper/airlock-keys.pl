#!/usr/bin/perl -T
# airlock-keys: sshd's AuthorizedKeysCommand for the Airlock tunnel endpoint.
#
# A thin client of the tunnel process's keys service (a Unix socket in a
# root-owned directory that only the keys account may open). It holds no
# token and never talks to the api: the tunnel process does, and records
# which agents it authorised for which sshd session. Perl from Debian's
# Essential perl-base (Socket only): a few ms and a few MB per call, where
# Node cost 0.4 s of CPU and 84 MB (issue 18, finding 8).
#
# Called by sshd as: airlock-keys SOCKET TIMEOUT_S %u %f %t %k
# Our parent is the sshd monitor of this connection; its PID goes with the
# question so the service can tie the answer to the session (and checks it
# in /proc: an sshd, root, with a socket to our port, and us as its child).
#
# Fails closed: odd arguments, no service, a timeout or any odd answer print
# nothing and exit 1, which sshd reads as "no key authorised". The answer is
# printed only once all of it has been read and checked.
use strict;
# No other module (not even `constant`): Socket.pm alone costs ~9 ms of CPU per call (measured, see
# `pnpm bench`), so Linux's AF_UNIX = SOCK_STREAM = 1 and its sockaddr_un
# (a native short, then the NUL-terminated path) are spelled out. The
# endpoint is Linux-only anyway (/proc).
sub AF_UNIX () { 1 }
sub SOCK_STREAM () { 1 }

sub fail {
    print STDERR "airlock-keys: $_[0]\n";
    exit 1;
}

@ARGV == 6 or fail('expected 6 arguments: SOCKET TIMEOUT_S %u %f %t %k');
my ($socket_path, $timeout, $user, $fingerprint, $type, $key);
# Taint mode: every argument is used only through what its pattern captured.
($socket_path) = $ARGV[0] =~ m{\A(/[A-Za-z0-9_./-]{1,200})\z} or fail('bad socket path');
($timeout) = $ARGV[1] =~ m{\A([1-9][0-9]?)\z} or fail('bad timeout');
($user) = $ARGV[2] =~ m{\A([a-z_][a-z0-9_-]{0,31})\z} or fail('malformed user');
($fingerprint) = $ARGV[3] =~ m{\A(SHA256:[A-Za-z0-9+/]{43})\z} or fail('malformed fingerprint');
($type) = $ARGV[4] =~ m{\A([a-z0-9@.-]{1,64})\z} or fail('malformed key type');
($key) = $ARGV[5] =~ m{\A([A-Za-z0-9+/]{1,4096}={0,2})\z} or fail('malformed key');

$SIG{ALRM} = sub { fail('no answer in time') };
alarm $timeout;

socket(my $sock, AF_UNIX, SOCK_STREAM, 0) or fail('no socket');
connect($sock, pack('S Z*', AF_UNIX, $socket_path)) or fail('keys service unreachable');
my $question = join(' ', 'airlock-keys/1', getppid(), $user, $fingerprint, $type, $key) . "\n";
defined syswrite($sock, $question) or fail('cannot ask');
shutdown($sock, 1);

my $answer = '';
while (1) {
    my $n = sysread($sock, $answer, 65536, length $answer);
    fail('read failed') unless defined $n;
    last if $n == 0;
    fail('answer too long') if length $answer > 65536;
}
alarm 0;

my @lines = split /\n/, $answer, -1;
pop @lines if @lines && $lines[-1] eq '';
my $head = shift @lines;
fail('refused') if !defined $head || $head !~ /\Aok ([0-9]{1,2})\z/;
my $count = $1;
fail('truncated answer') if @lines != $count;

# Exactly what the service builds: forwarding to permit_open only, one
# permitlisten (the agent's own loopback port, or localhost:1, which sshd_config's
# PermitListen never matches), no shell, and the offered key itself, byte for byte.
my $hostport = qr/(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\]):[0-9]{1,5}/;
my $listen = qr/(?:127\.0\.0\.1:[0-9]{4,5}|localhost:1)/;
my $uuid = qr/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;
for my $line (@lines) {
    $line =~ m{\Arestrict,port-forwarding(?:,permitopen="$hostport")+,permitlisten="$listen",command="/bin/false" ssh-ed25519 \Q$key\E airlock-agent-$uuid\z}
      or fail('odd answer');
}
print map { "$_\n" } @lines;
exit 0;
