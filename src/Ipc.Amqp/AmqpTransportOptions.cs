using System.ComponentModel.DataAnnotations;

namespace Ipc.Amqp;

/// <summary>
/// The options of the AMQP transport (<c>amqp://</c>, <c>amqps://</c>), bound from <c>Ipc:Transports:Amqp</c> and then
/// <c>Ipc:Endpoints:&lt;name&gt;:Amqp</c>, per endpoint.
/// </summary>
public sealed class AmqpTransportOptions
{
    /// <summary>The configuration section name under <c>Ipc:Transports</c> and <c>Ipc:Endpoints:&lt;name&gt;</c>.</summary>
    public const string SectionName = "Amqp";

    /// <summary>Gets or sets the user name to log in with; it takes precedence over a user in the address.</summary>
    /// <value>The default value is <see langword="null"/>: the address's user, else <c>guest</c>.</value>
    public string? UserName { get; set; }

    /// <summary>Gets or sets the password to log in with; it takes precedence over a password in the address, so it can stay out of the address.</summary>
    /// <value>The default value is <see langword="null"/>: the address's password, else <c>guest</c>.</value>
    public string? Password { get; set; }

    /// <summary>
    /// Gets the other nodes of the broker's cluster (<c>host</c> or <c>host:port</c>), tried with the address's host when
    /// connecting and when a connection is lost, so a client fails over to another node by itself.
    /// </summary>
    /// <value>The default value is empty: only the address's host.</value>
    public IList<string> Hosts { get; } = [];

    /// <summary>Gets the TLS settings; <c>amqps://</c> addresses turn TLS on by themselves.</summary>
    public AmqpTlsOptions Tls { get; } = new();

    /// <summary>Gets or sets how many messages a server takes from each queue before acknowledging any (the consumer prefetch): the most handlers it runs at once per queue.</summary>
    /// <value>The default value is 64.</value>
    [Range(1, 65535)]
    public int Prefetch { get; set; } = 64;

    /// <summary>
    /// Gets or sets a value indicating whether queues of one-way and published messages are durable (quorum queues where
    /// <see cref="QuorumQueues"/> is on) and their messages persistent, so they survive a broker restart.
    /// </summary>
    /// <value>The default value is <see langword="true"/>. Turning it off makes those queues and messages transient: faster, but a broker restart loses them.</value>
    public bool Durable { get; set; } = true;

    /// <summary>Gets or sets a value indicating whether durable queues are quorum queues (replicated on a cluster) rather than classic queues.</summary>
    /// <value>The default value is <see langword="true"/>.</value>
    public bool QuorumQueues { get; set; } = true;

    /// <summary>
    /// Gets or sets a value indicating whether one-way sends and publishes wait for the broker's confirm, so a send
    /// completes only once the broker has the message (publisher confirms).
    /// </summary>
    /// <value>The default value is <see langword="true"/>. Off, a send completes once written to the socket and a broker failure can lose it.</value>
    public bool PublisherConfirms { get; set; } = true;

    /// <summary>
    /// Gets or sets how many times a one-way or published message is handed to a handler that fails before it goes to the
    /// queue's dead-letter queue (<c>&lt;queue&gt;.dead-letter</c>) with the error in its headers.
    /// </summary>
    /// <value>The default value is 5.</value>
    [Range(1, 1000)]
    public int MaxDeliveries { get; set; } = 5;

    /// <summary>
    /// Gets or sets how long a queue may go unused (no consumer) before the broker deletes it (<c>x-expires</c>); not
    /// dead-letter queues, which nothing consumes: they stay until deleted.
    /// </summary>
    /// <value>The default value is <see langword="null"/>: queues stay until deleted.</value>
    public TimeSpan? QueueExpiry { get; set; }

    /// <summary>Gets or sets the heartbeat interval the client asks the broker for; a silent connection is given up after two missed heartbeats.</summary>
    /// <value>The default value is 10 seconds.</value>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan Heartbeat { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Gets or sets how long to wait between attempts to recover a lost connection (its channels, consumers and topology).</summary>
    /// <value>The default value is 1 second.</value>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")]
    public TimeSpan RecoveryInterval { get; set; } = TimeSpan.FromSeconds(1);
}

/// <summary>The TLS settings of the AMQP transport (<c>Ipc:Transports:Amqp:Tls</c>).</summary>
public sealed class AmqpTlsOptions
{
    /// <summary>Gets or sets a value indicating whether connections use TLS.</summary>
    /// <value>The default value is <see langword="false"/>; an <c>amqps://</c> address uses TLS whatever this says.</value>
    public bool Enabled { get; set; }

    /// <summary>Gets or sets the name the broker's certificate must carry.</summary>
    /// <value>The default value is <see langword="null"/>: the host being connected to.</value>
    public string? ServerName { get; set; }

    /// <summary>
    /// Gets or sets a certificate file (PEM or DER) of the authority that issued the broker's certificate. When set, the
    /// broker's chain must end in it, and only in it: the system's trust store is not consulted. The name is checked all the same.
    /// </summary>
    /// <value>The default value is <see langword="null"/>: the system's trust store decides.</value>
    public string? CertificateAuthorityPath { get; set; }

    /// <summary>Gets or sets the path of a client certificate (PKCS#12) to present, for brokers that require one.</summary>
    /// <value>The default value is <see langword="null"/>: no client certificate.</value>
    public string? ClientCertificatePath { get; set; }

    /// <summary>Gets or sets the password of <see cref="ClientCertificatePath"/>.</summary>
    /// <value>The default value is <see langword="null"/>.</value>
    public string? ClientCertificatePassword { get; set; }
}
